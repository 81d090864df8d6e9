//! Smoke run of the fuzz targets over `protocol`: each target's `check_*` (the very source
//! the libFuzzer targets in `fuzz/` run) over its generated seeds and a few hundred to a
//! few thousand mutated inputs. Needs neither nightly nor cargo-fuzz. See docs/SECURITY.md.

extern crate cloakroom_protocol as protocol;

#[path = "../../fuzz/src/checks.rs"]
#[allow(dead_code)] // shared with the fuzz crate, which uses all of it
mod checks;
#[path = "../../fuzz/src/seeds.rs"]
#[allow(dead_code)] // shared with the fuzz crate, which uses all of it
mod seeds;
#[path = "../../fuzz/src/smoke.rs"]
#[allow(dead_code)] // shared with the fuzz crate, which uses all of it
mod smoke;

fn smoke(target: &str, check: fn(&[u8]), mutations: usize) {
    let ran = smoke::run(target, &seeds::seeds(target), check, mutations);
    assert!(ran > mutations);
}

#[test]
fn client_frame() {
    smoke("client_frame", checks::check_client_frame, 3000);
}

#[test]
fn server_frame() {
    smoke("server_frame", checks::check_server_frame, 1000);
}

#[test]
fn envelope() {
    smoke("envelope", checks::check_envelope, 500);
}

/// Found by the `envelope` target: an envelope of another format version (here the
/// protocol's own number, 2, which is not the envelope format's) is refused, not opened.
#[test]
fn envelope_of_another_format_version() {
    let v = protocol::vectors::load();
    let mut env = serde_json::to_value(&v.messages[1].envelope).unwrap();
    for version in [0, 2, 9] {
        env["v"] = serde_json::json!(version);
        checks::check_envelope(env.to_string().as_bytes());
    }
}

#[test]
fn message_body() {
    smoke("message_body", checks::check_message_body, 3000);
}

#[test]
fn signed_request() {
    smoke("signed_request", checks::check_signed_request, 1000);
}

#[test]
fn owner_call() {
    smoke("owner_call", checks::check_owner_call, 3000);
}

#[test]
fn api_body() {
    smoke("api_body", checks::check_api_body, 2000);
}

#[test]
fn backup() {
    smoke("backup", checks::check_backup, 200);
}

#[test]
fn keys_file() {
    smoke("keys_file", checks::check_keys_file, 2000);
}

#[test]
fn objects() {
    smoke("objects", checks::check_objects, 3000);
}

/// Every target the fuzz crate declares has a smoke run here or in room-core.
#[test]
fn every_target_is_smoked() {
    let manifest = include_str!("../../fuzz/Cargo.toml");
    for target in seeds::TARGETS {
        assert!(manifest.contains(&format!("name = \"{target}\"")), "{target} is not a fuzz target");
    }
    assert_eq!(manifest.matches("[[bin]]").count(), seeds::TARGETS.len());
}

#[test]
fn sso() {
    smoke("sso", checks::check_sso, 300);
}
