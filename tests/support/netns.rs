//! Network namespaces for the cluster fault suite: each nats-server node in its own namespace,
//! joined to this host by a veth pair on a bridge, so a test can cut one node off the network
//! (link down) exactly as a failed switch port would, which no loopback trick can do.
//!
//! ```text
//!   host (workers, Chroma, the test)          10.213.K.1 on bridge tfbrXXXX
//!     ├── tfvXXXX1 ═ veth ═ eth0 in ns tfXXXX-n1   10.213.K.11
//!     ├── tfvXXXX2 ═ veth ═ eth0 in ns tfXXXX-n2   10.213.K.12
//!     └── tfvXXXX3 ═ veth ═ eth0 in ns tfXXXX-n3   10.213.K.13
//! ```
//!
//! Needs root and `ip` (iproute2); the machines `make test` runs on have both. Everything is
//! removed on drop. Names carry this process's id and a counter, so neither parallel test
//! binaries nor parallel tests in one binary collide.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Netns made by this process so far: part of every name and subnet.
static MADE: AtomicU32 = AtomicU32::new(0);

use super::nats_cluster::Host;

pub struct Netns {
    tag: String,
    bridge: String,
    nodes: usize,
    /// The /24 the nodes live in (first three octets).
    subnet: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Netns {
    /// `nodes` namespaces on one bridge. `Err` says why namespaces are not available here.
    pub fn create(nodes: usize) -> Result<Netns, String> {
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // At most 7 characters, so "tfbr"/"tfv" + tag + node stay within 15 (IFNAMSIZ).
        let tag = format!("{:05x}{:x}", pid % 0xfffff, n % 16);
        let net = Netns {
            bridge: format!("tfbr{tag}"),
            tag,
            nodes,
            // One /24 per netns; the third octet from the pid and the counter.
            subnet: format!("10.213.{}", (pid.wrapping_add(n * 37)) % 250 + 1),
        };
        let subnet = net.subnet.clone();
        ip(&["link", "add", &net.bridge, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &net.bridge])?;
        ip(&["link", "set", &net.bridge, "up"])?;
        for i in 1..=nodes {
            let ns = net.namespace(i);
            let host_end = net.host_end(i);
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &host_end, "master", &net.bridge])?;
            ip(&["link", "set", &host_end, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{subnet}.{}/24", 10 + i),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    fn namespace(&self, i: usize) -> String {
        format!("tf{}-n{i}", self.tag)
    }

    fn host_end(&self, i: usize) -> String {
        format!("tfv{}{i}", self.tag)
    }

    /// Where node `i` (1-based) runs.
    pub fn host(&self, i: usize) -> Host {
        Host {
            ip: format!("{}.{}", self.subnet, 10 + i),
            netns: Some(self.namespace(i)),
        }
    }

    pub fn hosts(&self) -> Vec<Host> {
        (1..=self.nodes).map(|i| self.host(i)).collect()
    }

    /// Cuts node `i` off (its link down): nothing in or out, the process keeps running.
    pub fn cut(&self, i: usize) {
        ip(&["link", "set", &self.host_end(i), "down"]).expect("link down");
    }

    /// Plugs node `i` back in.
    pub fn heal(&self, i: usize) {
        ip(&["link", "set", &self.host_end(i), "up"]).expect("link up");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for i in 1..=self.nodes {
            let _ = ip(&["netns", "del", &self.namespace(i)]);
            let _ = ip(&["link", "del", &self.host_end(i)]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}
