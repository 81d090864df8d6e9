//! Rewrites `protocol/vectors/v1.json` and `v2.json` from the fixed inputs in
//! `vectors::generate` and `vectors_v2::generate`.
fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors");
    let v1 = serde_json::to_string_pretty(&cloakroom_protocol::vectors::generate()).expect("vectors serialise");
    std::fs::write(format!("{dir}/v1.json"), v1 + "\n").expect("write vectors/v1.json");
    let v2 = serde_json::to_string_pretty(&cloakroom_protocol::vectors_v2::generate()).expect("vectors serialise");
    std::fs::write(format!("{dir}/v2.json"), v2 + "\n").expect("write vectors/v2.json");
    println!("wrote {dir}/v1.json and v2.json");
}
