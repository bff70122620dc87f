//! Test support shared by the crates' integration tests: a real `registro serve` process on
//! port 0 with its JSON logs captured, multipart form fixtures built from a catalog, clocks,
//! and the port contract suites every backend must pass.

pub mod clock;
pub mod contract;
pub mod emulators;
pub mod forms;
pub mod oidc;
pub mod resend_fake;
pub mod sheets_fake;
pub mod spawn;
