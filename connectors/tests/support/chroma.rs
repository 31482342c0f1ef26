//! A real `chroma run` for the connector's tests and benchmarks (`tests/chroma_server.rs`,
//! `benches/chroma_upsert.rs`, which includes this file by path): a free loopback port, a fresh
//! data directory, and a shell watchdog that stops the server when this process's pipe to it
//! closes, so a server shared through a `static` still stops when the process exits.
// Each including target uses a different part.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to answer its first heartbeat (a busy 2-core machine needs more
/// than the usual few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `chroma run`; dropping it stops the server and removes its data directory.
pub struct ChromaServer {
    pub url: String,
    /// Holds `chroma.log`; removed by the watchdog once the server stops.
    dir: PathBuf,
    watchdog: Child,
    /// Closing this pipe tells the watchdog to stop the server.
    stdin: Option<ChildStdin>,
}

impl Drop for ChromaServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.watchdog.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

/// Runs `$0 run --path $1/data --port $2` until stdin closes, then stops it and removes `$1`.
/// The script's exit status is the server's, so an early crash is visible to `try_wait`, and
/// then `$1` (with `chroma.log`) is left for the caller to read and remove.
const WATCHDOG: &str = r#"
bin=$0; dir=$1; port=$2
exec 3<&0  # background jobs get /dev/null as stdin, so keep the pipe on fd 3
"$bin" run --path "$dir/data" --port "$port" >"$dir/chroma.log" 2>&1 3<&- &
pid=$!
( cat <&3 >/dev/null; touch "$dir/stopping"; kill "$pid" 2>/dev/null ) &
wait "$pid"; status=$?
if [ -e "$dir/stopping" ]; then rm -rf "$dir"; fi
exit "$status"
"#;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `$TICKETFLOW_CHROMA_BIN` if set, else what `make setup` installs; `None` if it is not there.
pub fn chroma_binary() -> Option<PathBuf> {
    let candidates = match std::env::var_os("TICKETFLOW_CHROMA_BIN") {
        Some(bin) => vec![PathBuf::from(bin)],
        None => {
            let root = workspace();
            vec![
                root.join("var/bin/chroma"),
                root.join(".venv-services/bin/chroma"),
            ]
        }
    };
    candidates.into_iter().find(|p| p.is_file())
}

pub use ticketflow_testkit::free_port;

impl ChromaServer {
    /// Starts a server and waits for its heartbeat; retries on a new port if it dies early
    /// (another process may have taken the port between our probe and its bind).
    pub async fn start(bin: &Path) -> Result<Self, String> {
        let mut last_error = String::new();
        for _attempt in 0..3 {
            match Self::start_once(bin).await {
                Ok(server) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    async fn start_once(bin: &Path) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("ticketflow-chroma-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?
            .keep(); // the watchdog removes it
        let port = free_port();
        let started = Instant::now();
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(bin)
            .arg(&dir)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        let stdin = watchdog.stdin.take();
        let mut server = ChromaServer {
            url: format!("http://127.0.0.1:{port}"),
            dir: dir.clone(),
            watchdog,
            stdin,
        };
        if let Err(e) = server.wait_ready(started).await {
            drop(server);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        eprintln!(
            "chroma on {} answered its heartbeat after {:.2} s",
            server.url,
            started.elapsed().as_secs_f64()
        );
        Ok(server)
    }

    /// The last 20 lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("chroma.log")) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    async fn wait_ready(&mut self, started: Instant) -> Result<(), String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| e.to_string())?;
        let heartbeat = format!("{}/api/v2/heartbeat", self.url);
        while started.elapsed() < START_TIMEOUT {
            if let Ok(resp) = http.get(&heartbeat).send().await
                && resp.status().is_success()
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.watchdog.try_wait() {
                return Err(format!(
                    "chroma exited during startup ({status}):\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "chroma did not answer {heartbeat} within {START_TIMEOUT:?}:\n{}",
            self.log()
        ))
    }
}
