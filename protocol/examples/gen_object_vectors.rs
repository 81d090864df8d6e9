//! Rewrites `protocol/vectors/v2-objects.json` from the fixed inputs in
//! `object_vectors::generate`.
fn main() {
    let vectors = cloakroom_protocol::object_vectors::generate();
    let json = serde_json::to_string_pretty(&vectors).expect("vectors serialise");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/v2-objects.json");
    std::fs::write(path, json + "\n").expect("write vectors/v2-objects.json");
    println!("wrote {path}");
}
