//! libFuzzer entry for `cloakroom_fuzz::check_sso` (the body is shared with the smoke test).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cloakroom_fuzz::check_sso(data));
