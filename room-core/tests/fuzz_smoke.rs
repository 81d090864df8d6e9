//! Smoke run of the `inbound` fuzz target (room-core's inbound path): the same
//! `check_inbound` the libFuzzer target runs, over the client-frame seeds and mutations of
//! them. Needs neither nightly nor cargo-fuzz. See docs/SECURITY.md.

extern crate cloakroom_room_core as room_core;

#[path = "../../fuzz/src/inbound.rs"]
#[allow(dead_code)] // shared with the fuzz crate, which uses all of it
mod inbound;
#[path = "../../fuzz/src/seeds.rs"]
#[allow(dead_code)] // shared with the fuzz crate, which uses all of it
mod seeds;
#[path = "../../fuzz/src/smoke.rs"]
#[allow(dead_code)] // shared with the fuzz crate, which uses all of it
mod smoke;

#[test]
fn inbound() {
    smoke::run("inbound", &seeds::seeds("inbound"), inbound::check_inbound, 500);
}
