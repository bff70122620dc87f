//! Whether the Google Cloud emulators are there, for the suites that run on them.
//!
//! A suite on an emulator runs when the emulator's variable is set (`FIRESTORE_EMULATOR_HOST`,
//! `PUBSUB_EMULATOR_HOST`, `STORAGE_EMULATOR_HOST`, as the Google tools use them). Without it, a
//! test says it skipped and returns, so `scripts/test` passes on a machine without the Google
//! Cloud SDK, unless [`REQUIRE_VAR`] is set: `.ci/run` sets it after starting the emulators, and
//! then a missing variable fails the test instead of letting the suite pass without running.

/// Set to `1` to make a missing emulator a test failure.
pub const REQUIRE_VAR: &str = "REGISTRO_REQUIRE_EMULATORS";

pub const FIRESTORE_VAR: &str = "FIRESTORE_EMULATOR_HOST";
pub const PUBSUB_VAR: &str = "PUBSUB_EMULATOR_HOST";
pub const STORAGE_VAR: &str = "STORAGE_EMULATOR_HOST";

/// The Firestore emulator's `host:port`, if its suite should run.
pub fn firestore() -> bool {
    available(FIRESTORE_VAR)
}

pub fn pubsub() -> bool {
    available(PUBSUB_VAR)
}

pub fn storage() -> bool {
    available(STORAGE_VAR)
}

/// The value of an emulator variable, when set and not empty.
pub fn host(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

fn available(var: &str) -> bool {
    if host(var).is_some() {
        return true;
    }
    let required = std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{var} is not set, but {REQUIRE_VAR}=1 says the emulator-backed suites must run"
    );
    eprintln!("SKIPPED: {var} is not set (start the emulator to run this suite)");
    false
}
