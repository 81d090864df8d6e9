//! The put secrets of this page's uploads, by file id: the secret whose hash the server
//! registered when this browser paid for an upload, kept for the page's lifetime so that
//! a stopped upload (cancel, network) resumes without paying again. Never stored or sent
//! anywhere but in the chunk PUTs of its own upload; a reload forgets them (resuming then
//! pays again, see `docs/PROTOCOL.md`, "Documents").

use std::cell::RefCell;
use std::collections::HashMap;

use protocol::object_proofs::PutSecret;

use crate::crypto::random_bytes;

thread_local! {
    static SECRETS: RefCell<HashMap<String, PutSecret>> = RefCell::new(HashMap::new());
}

/// The put secret this page uses for `file_id` (a fresh one the first time).
pub fn current(file_id: &str) -> PutSecret {
    SECRETS.with(|s| {
        s.borrow_mut().entry(file_id.to_owned()).or_insert_with(|| PutSecret::from_bytes(random_bytes::<32>())).clone()
    })
}

/// A fresh put secret for `file_id`, replacing the page's old one: to pay as the upload's
/// latest payer (the only one that may replace chunks every earlier payer sent).
pub fn renew(file_id: &str) -> PutSecret {
    let fresh = PutSecret::from_bytes(random_bytes::<32>());
    SECRETS.with(|s| s.borrow_mut().insert(file_id.to_owned(), fresh.clone()));
    fresh
}
