//! Rewrites `protocol/vectors/v1.json` from the fixed inputs in `vectors::generate`.
fn main() {
    let vectors = cloakroom_protocol::vectors::generate();
    let json = serde_json::to_string_pretty(&vectors).expect("vectors serialise");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/v1.json");
    std::fs::write(path, json + "\n").expect("write vectors/v1.json");
    println!("wrote {path}");
}
