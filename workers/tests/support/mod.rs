//! Helpers shared by the workers' integration tests.

#![allow(dead_code)] // each test file uses a different subset

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
