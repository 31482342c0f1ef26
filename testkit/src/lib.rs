//! Helpers shared by the tests of every crate (a dev-dependency only).
//!
//! Many tests need something `make setup` installs: a server binary (NATS, Chroma, moto,
//! Prometheus), the embedding model, Chromium, a deployment validator. A bare `cargo test` on a
//! machine without them should still pass what it can, so such a test *skips*, saying why. Under
//! `make test` the matching `TICKETFLOW_REQUIRE_*` variable is `1`, and a missing prerequisite
//! *fails* instead: CI must never go green by skipping. This crate is the one place that rule
//! lives. Beside it, [`xorshift`]: the seeded generator several crates' tests draw noise from;
//! [`store_recorder`]: a layer that logs how code talks to the object store; and
//! [`free_port`]: ports for test servers that no outgoing connection can take.

use std::fmt::Display;

pub mod ports;
pub mod store_recorder;

pub use ports::free_port;

/// A kind of prerequisite, each with the variable that makes it mandatory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Server binaries and tools from `make setup` (`TICKETFLOW_REQUIRE_SERVICES`).
    Services,
    /// The exported embedding model and ONNX Runtime (`TICKETFLOW_REQUIRE_MODEL`).
    Model,
    /// Headless Chromium for the report rendering test (`TICKETFLOW_REQUIRE_CHROMIUM`).
    Chromium,
}

impl Requirement {
    pub fn variable(self) -> &'static str {
        match self {
            Requirement::Services => "TICKETFLOW_REQUIRE_SERVICES",
            Requirement::Model => "TICKETFLOW_REQUIRE_MODEL",
            Requirement::Chromium => "TICKETFLOW_REQUIRE_CHROMIUM",
        }
    }

    /// Whether a missing prerequisite of this kind fails the test.
    pub fn is_required(self) -> bool {
        std::env::var(self.variable()).as_deref() == Ok("1")
    }

    /// Called when `what` is missing: panics if it is required, else prints why the test
    /// skips. Tests call it and return (or yield `None`).
    #[track_caller]
    pub fn missing(self, what: impl Display) {
        if self.is_required() {
            panic!("{what} ({}=1)", self.variable());
        }
        eprintln!("skipping: {what}");
    }

    /// `found`, or (when `None`) [`missing`](Self::missing) with `what` and `None`.
    #[track_caller]
    pub fn or_skip<T>(self, found: Option<T>, what: impl Display) -> Option<T> {
        if found.is_none() {
            self.missing(what);
        }
        found
    }
}

/// Fails the test unless `text` contains every one of `needles`, naming what lacks which
/// (`what` says where `text` came from: a file, a command's stderr).
#[track_caller]
pub fn assert_contains_all(text: &str, needles: &[&str], what: &str) {
    let missing: Vec<&&str> = needles.iter().filter(|n| !text.contains(**n)).collect();
    assert!(missing.is_empty(), "{what} lacks {missing:?}:\n{text}");
}

/// A tiny deterministic generator (xorshift64), so the tests need no extra crate.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed.max(1);
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
