//! What every host of Cloakroom's worker API does identically at the HTTP layer, with no
//! runtime inside: mock-server (axum) and the Cloudflare Worker (`edge/`) both call it.
//!
//! - [`csp`]: the Content-Security-Policy text, from the built `index.html`.
//! - [`origin`]: which browser pages may open room WebSockets.
//! - [`secret`]: constant-time comparison of presented secrets.
//! - [`ledger`]: the token ledger's rules (records, exactly-once spends, SSO caps) over a
//!   host's transaction.
//! - [`uploads`]: the document store's rules (payers, chunks, read proofs) over a host's
//!   records.

pub mod csp;
pub mod ledger;
pub mod origin;
pub mod secret;
pub mod uploads;
