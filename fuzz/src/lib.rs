//! Cloakroom's fuzz targets. Each target in `fuzz_targets/` is one line calling a
//! `check_*` function here; the same source files are compiled into the smoke tests
//! (`protocol/tests/fuzz_smoke.rs`, `room-core/tests/fuzz_smoke.rs`). See docs/SECURITY.md.

pub mod checks;
pub mod inbound;
pub mod seeds;

pub use checks::*;
pub use inbound::check_inbound;
