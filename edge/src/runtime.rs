//! What the edge's Worker and objects take from the runtime: the clock, randomness and the
//! deployment's settings (vars and secrets).

use room_core::UnixMicros;
use worker::Env;

/// Now, as the runtime's clock says (in a Worker it advances only across I/O).
pub fn now() -> UnixMicros {
    UnixMicros((js_sys::Date::now() * 1000.0) as u64)
}

/// `N` bytes from the runtime's CSPRNG (`crypto.getRandomValues`).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("crypto.getRandomValues");
    out
}

/// A string var or secret of the Worker's environment.
pub fn setting(env: &Env, name: &str) -> Option<String> {
    env.var(name).map(|v| v.to_string()).or_else(|_| env.secret(name).map(|s| s.to_string())).ok()
}
