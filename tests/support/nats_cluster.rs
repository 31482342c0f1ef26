//! A JetStream cluster of real nats-server processes for the replication and cluster fault
//! tests: every node with its own client, cluster and monitoring ports and its own store, all
//! routes to all. On loopback here; [`super::netns`] puts each node in its own network namespace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{Proc, free_port, service_binary, wait_until};

/// Where a node runs: its address, and the network namespace to start it in (`None`: here).
#[derive(Debug, Clone)]
pub struct Host {
    pub ip: String,
    pub netns: Option<String>,
}

impl Host {
    pub fn loopback() -> Host {
        Host {
            ip: "127.0.0.1".into(),
            netns: None,
        }
    }
}

pub struct Node {
    pub name: String,
    pub host: Host,
    pub port: u16,
    pub monitor_port: u16,
    pub cluster_port: u16,
    pub proc: Option<Proc>,
}

impl Node {
    pub fn url(&self) -> String {
        format!("nats://{}:{}", self.host.ip, self.port)
    }
}

pub struct NatsCluster {
    pub nodes: Vec<Node>,
    bin: PathBuf,
    dir: PathBuf,
}

impl NatsCluster {
    /// `hosts.len()` nodes named n1, n2, …, started and waited for (a meta leader elected).
    /// `None` (skip, or fail under `TICKETFLOW_REQUIRE_SERVICES=1`) without nats-server.
    pub fn start(dir: &Path, hosts: Vec<Host>) -> Option<NatsCluster> {
        let bin = service_binary("nats-server")?;
        let nodes = hosts
            .into_iter()
            .enumerate()
            .map(|(i, host)| Node {
                name: format!("n{}", i + 1),
                host,
                port: free_port(),
                monitor_port: free_port(),
                cluster_port: free_port(),
                proc: None,
            })
            .collect();
        let mut cluster = NatsCluster {
            nodes,
            bin,
            dir: dir.to_path_buf(),
        };
        for i in 0..cluster.nodes.len() {
            cluster.spawn(i);
        }
        cluster.wait_formed(Duration::from_secs(60));
        Some(cluster)
    }

    /// Every node's client URL, comma-separated, as `NATS_URL` takes it.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(Node::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, i: usize) {
        let routes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("\"nats://{}:{}\"", n.host.ip, n.cluster_port))
            .collect();
        let node = &self.nodes[i];
        let conf = self.dir.join(format!("{}.conf", node.name));
        let store = self.dir.join(&node.name);
        std::fs::write(
            &conf,
            format!(
                "server_name: {name}\nlisten: \"{ip}:{port}\"\nhttp: \"{ip}:{mport}\"\n\
                 jetstream {{ store_dir: \"{store}\" }}\n\
                 cluster {{\n  name: tf\n  listen: \"{ip}:{cport}\"\n  routes: [{routes}]\n}}\n",
                name = node.name,
                ip = node.host.ip,
                port = node.port,
                mport = node.monitor_port,
                cport = node.cluster_port,
                store = store.display(),
                routes = routes.join(", "),
            ),
        )
        .expect("node config");
        let mut cmd = match &node.host.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        cmd.arg("-c").arg(&conf);
        let proc = Proc::spawn(&format!("nats-{}", node.name), &mut cmd, &self.dir);
        self.nodes[i].proc = Some(proc);
    }

    /// kill -9, and leave it dead.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i].proc.take() {
            p.kill();
        }
    }

    /// Starts a killed node again on its ports and store, and waits until it serves.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        let node = &self.nodes[i];
        let (ip, port) = (node.host.ip.clone(), node.monitor_port);
        wait_until(
            &format!("{} back", node.name),
            Duration::from_secs(60),
            || get(&ip, port, "/healthz").is_some_and(|(status, _)| status == 200),
        );
    }

    /// Until every running node answers and one of them names a meta leader.
    pub fn wait_formed(&self, timeout: Duration) {
        wait_until("the JetStream cluster", timeout, || {
            self.running()
                .all(|n| get(&n.host.ip, n.monitor_port, "/healthz").is_some_and(|(s, _)| s == 200))
                && self.meta_leader().is_some()
        });
    }

    fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.proc.is_some())
    }

    /// The node that leads the meta group (stream placement, the JetStream API), as a running
    /// node reports it.
    pub fn meta_leader(&self) -> Option<usize> {
        self.running().find_map(|n| {
            let (_, body) = get(&n.host.ip, n.monitor_port, "/jsz")?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let leader = v["meta_cluster"]["leader"].as_str()?.to_string();
            self.nodes.iter().position(|m| m.name == leader)
        })
    }

    /// The last sequence number of `stream` (0 before its first message), as a running node
    /// reports it.
    pub fn stream_last_seq(&self, stream: &str) -> Option<u64> {
        self.stream_detail(stream, |s| s["state"]["last_seq"].as_u64())
    }

    /// The node that leads `stream`'s Raft group.
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        self.stream_detail(stream, |s| {
            let leader = s["cluster"]["leader"].as_str()?;
            self.nodes.iter().position(|m| m.name == leader)
        })
    }

    fn stream_detail<T>(
        &self,
        stream: &str,
        pick: impl Fn(&serde_json::Value) -> Option<T>,
    ) -> Option<T> {
        self.running().find_map(|n| {
            let (_, body) = get(
                &n.host.ip,
                n.monitor_port,
                "/jsz?streams=true&accounts=true",
            )?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let details = v["account_details"].as_array()?;
            details.iter().find_map(|account| {
                account["stream_detail"]
                    .as_array()?
                    .iter()
                    .find(|s| s["name"] == stream)
                    .and_then(&pick)
            })
        })
    }
}

pub use super::http_get_from as get;
