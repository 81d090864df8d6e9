//! The browser build keeps the linker's relocations in the wasm (`--emit-relocs`):
//! `scripts/split-wasm` reads them to cut the lazily loaded parts (`#[lazy]` functions)
//! out of the main module. wasm-bindgen and wasm-opt drop them again, so nothing ships.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-bins=--emit-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
