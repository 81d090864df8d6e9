//! Writes the fuzz targets' seed corpora, generated from `vectors/v1.json`, to
//! `fuzz/corpus/<target>/` (or the directory given as the first argument):
//! `cargo run -p cloakroom-protocol --example fuzz_seeds`. See docs/SECURITY.md.

extern crate cloakroom_protocol as protocol;

#[path = "../../fuzz/src/seeds.rs"]
#[allow(dead_code)] // shared with the fuzz crate, which uses all of it
mod seeds;

use sha2::{Digest, Sha256};

fn main() -> std::io::Result<()> {
    let root = std::env::args().nth(1).unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus").into());
    for target in seeds::TARGETS {
        let dir = std::path::Path::new(&root).join(target);
        std::fs::create_dir_all(&dir)?;
        let seeds = seeds::seeds(target);
        let bytes: usize = seeds.iter().map(Vec::len).sum();
        for seed in &seeds {
            let name = protocol::encoding::b64(&Sha256::digest(seed)[..12]);
            std::fs::write(dir.join(format!("seed-{name}")), seed)?;
        }
        println!("{target}: {} seeds, {bytes} bytes → {}", seeds.len(), dir.display());
    }
    Ok(())
}
