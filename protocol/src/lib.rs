//! Cloakroom's protocol: everything the browser client and the workers must agree on.
//!
//! This crate is pure: no IO, no async runtime, no randomness source. Functions that need
//! fresh randomness (key generation, nonces, challenges) take the random bytes as
//! arguments, so every operation is deterministic and covered by the shared test vectors
//! in `vectors/` that both the native and the wasm32 builds check against.
//!
//! Map of the crate:
//! - [`encoding`]: base64url helpers used by every textual encoding.
//! - [`ids`]: room ids (bound to the owner key), timestamps, message keys, client ids.
//! - [`identity`]: per-room P-256 identity keys, public keys and signatures.
//! - [`content_key`]: the room's symmetric content key.
//! - [`transcript`]: the canonical byte strings that get signed or authenticated.
//! - [`actions`]: replies, edits, deletes and reactions, and who may make them.
//! - [`envelope`]: sealing (encrypt + sign) and opening (verify + decrypt) messages.
//! - [`frames`]: the WebSocket frames, both directions.
//! - [`signed_request`]: owner and member API calls signed with identity keys.
//! - [`invite`]: invite keys derived from the link, and newcomers' proofs of holding it.
//! - [`room_state`]: the owner-signed room state (epoch, lock, capacity, invite, sealed MOTD).
//! - [`room_guard`]: what a client checks before trusting a state or key the server sent.
//! - [`safety_number`]: the digits two members compare to check each other's keys.
//! - [`key_wrap`]: room keys wrapped to one member (ECDH → HKDF → AES-GCM).
//! - [`storage_token`]: storage token sizes and hashes.
//! - [`ledger_link`]: token-to-room links sealed to the offline ledger key.
//! - [`backup`]: signed room backups for moving a room to another server.
//! - [`whisper`]: pairwise keys for messages only two members read.
//! - [`keys_file`]: the passphrase-encrypted export of everything a browser knows.
//! - [`objects`]: documents: padding, convergent keys, chunk encryption, upload types.
//! - [`names`]: shared file names made safe to show and save (no bidi tricks, no paths).
//! - [`object_proofs`]: the document store's read proofs and put secrets.
//! - [`object_vectors`]: the v2 object vectors, with their inputs.
//! - [`api`]: the HTTP request and response bodies.
//! - [`limits`]: every limit the server enforces, reported to clients.
//! - [`error`]: typed error codes shared by HTTP answers and WebSocket frames.

pub mod actions;
pub mod api;
pub mod backup;
pub mod call;
pub mod content_key;
pub mod encoding;
pub mod envelope;
pub mod error;
pub mod frames;
pub mod identity;
pub mod ids;
pub mod invite;
pub mod key_wrap;
pub mod keys_file;
pub mod ledger_link;
pub mod limits;
pub mod names;
pub mod object_proofs;
pub mod object_vectors;
pub mod objects;
pub mod room_guard;
pub mod room_state;
pub mod safety_number;
pub mod signed_request;
pub mod sso;
pub mod storage_token;
pub mod transcript;
pub mod vectors;
pub mod vectors_v2;
pub mod whisper;

/// Version of the wire protocol described in `docs/PROTOCOL.md`. Frames and envelopes
/// carry it so that a future version can be recognised and refused with a clear error.
pub const PROTOCOL_VERSION: u32 = 2;

/// Version of the message envelope format. Protocol v2 did not change envelopes, so stored
/// messages of v1 rooms stay valid as they are.
pub const ENVELOPE_VERSION: u32 = 1;
