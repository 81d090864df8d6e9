//! Entry point Trunk builds: mounts the app in the browser.

fn main() {
    #[cfg(target_arch = "wasm32")]
    cloakroom::start();
}
