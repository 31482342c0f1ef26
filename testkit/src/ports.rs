//! Ports for the servers and workers a test starts.
//!
//! The usual trick, bind `127.0.0.1:0` and release the port, races: the kernel hands out the
//! same ephemeral range to every later `bind(0)` *and* to the source port of every outgoing
//! connection, so between the probe and the child's own bind another test's NATS client can take
//! it ("Address already in use" in CI). Ports handed out here sit below the ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range` starts at 32768 on Linux), where only an explicit
//! bind can land. Each test process walks that range from its own starting point, derived from
//! its pid and the clock, so two test binaries running side by side rarely meet; a port someone
//! already listens on is skipped.
//!
//! Why not the `portpicker` crate: it draws random ports below the range too, but two calls may
//! return the same port (its docs say so: nothing is reserved between the calls), and it falls
//! back to `bind(0)`, the race above. A test takes several ports before any child binds them;
//! the cursor here never hands the same one out twice in a process.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The first port handed out (above the well-known and registered services tests might meet).
const LOW: u32 = 20_000;
/// One past the last: the bottom of Linux's default ephemeral range.
const HIGH: u32 = 32_768;

static CURSOR: AtomicU32 = AtomicU32::new(u32::MAX);

fn start() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // A cheap mix of pid and clock: the start only needs to differ between processes.
    (std::process::id().wrapping_mul(2_654_435_761) ^ nanos) % (HIGH - LOW)
}

/// A port on 127.0.0.1 that nothing listens on now and that no outgoing connection will take.
pub fn free_port() -> u16 {
    let _ = CURSOR.compare_exchange(u32::MAX, start(), Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..(HIGH - LOW) {
        let offset = CURSOR.fetch_add(1, Ordering::SeqCst) % (HIGH - LOW);
        let port = (LOW + offset) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOW} and {HIGH}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_below_the_ephemeral_range_and_skip_a_taken_one() {
        let a = free_port();
        let b = free_port();
        assert_ne!(a, b);
        for p in [a, b] {
            assert!((LOW..HIGH).contains(&u32::from(p)), "{p}");
        }
        // Hold the next port; the allocator must step over it.
        let next = LOW + CURSOR.load(Ordering::SeqCst) % (HIGH - LOW);
        let held = TcpListener::bind(("127.0.0.1", next as u16));
        let c = free_port();
        if held.is_ok() {
            assert_ne!(u32::from(c), next, "handed out a port someone listens on");
        }
    }
}
