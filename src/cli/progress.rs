//! Progress for long work: a bar on a terminal, periodic log lines elsewhere (CI, containers).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    total: u64,
    done: u64,
    next_log: u64,
}

impl Progress {
    pub fn new(total: u64, what: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            if let Ok(style) =
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what);
            bar
        });
        Self {
            bar,
            what,
            total,
            done: 0,
            next_log: total / 10,
        }
    }

    pub fn inc(&mut self, n: usize) {
        self.done += n as u64;
        match &self.bar {
            Some(bar) => bar.inc(n as u64),
            None if self.done >= self.next_log && self.done < self.total => {
                tracing::info!(done = self.done, total = self.total, "{}", self.what);
                self.next_log = self.done + (self.total / 10).max(1);
            }
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
