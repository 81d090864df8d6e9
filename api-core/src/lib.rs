//! What every host of Cloakroom's worker API does identically at the HTTP layer, with no
//! runtime inside: mock-server (axum) and the Cloudflare Worker (`edge/`) both call it.
//!
//! - [`csp`]: the Content-Security-Policy text, from the built `index.html`.
//! - [`origin`]: which browser pages may open room WebSockets.
//! - [`secret`]: constant-time comparison of presented secrets.
//! - [`ledger`]: the token ledger's rules (records, exactly-once spends, SSO caps) over a
//!   host's transaction.

pub mod csp;
pub mod ledger;
pub mod origin;
pub mod secret;
