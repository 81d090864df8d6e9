//! Checks of an incoming frame that do not depend on the room's state: size, shape,
//! version, field sizes and the message signature.
//!
//! They are a pure function ([`prepare`]) so an adapter can run them wherever it has
//! spare cores (mock-server runs them in each connection's task, in parallel) and hand
//! the room only what passed: a message whose signature verified ([`Inbound::Send`]).
//! [`crate::Room::text_frame`] runs them inline for adapters that do not care. A `send`
//! on a connection that has not sent its `hello` yet is refused (`not_joined`) before its
//! signature is looked at, so an unjoined socket cannot make the server verify signatures;
//! the room itself refuses a `send` from a connection that has not completed the join.
//!
//! A `hello` is only parsed here ([`Inbound::Hello`]): its signature covers the
//! connection's challenge, which the room holds. The host verifies it with
//! [`crate::verified::verify_hello`] (giving [`Inbound::VerifiedHello`]), or leaves it to
//! the room, which then verifies it with the configured verifier.
//!
//! Signature verification goes through [`Verifier`], so an adapter can plug in a faster
//! implementation (mock-server uses `ring`) while the portable default uses the `p256`
//! code of `protocol`; an asynchronous one (WebCrypto on the edge) takes
//! [`prepare_deferred`]'s [`PendingSignature`], verifies it across an await and finishes
//! it (see also [`crate::verified`]).

use protocol::ENVELOPE_VERSION;
use protocol::envelope::Envelope;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::frames::ClientFrame;
use protocol::identity::{PublicKey, Signature};
use protocol::ids::{ClientMessageId, MessageKey};
use protocol::invite::InviteProof;
use protocol::limits::Limits;

/// Bytes the stored form `{"key":"<59 chars>","env":…}` adds around an envelope.
const STORED_KEY_OVERHEAD: usize = 80;

/// Verifies ECDSA P-256 (SHA-256, 64-byte `r ‖ s`) signatures.
pub trait Verifier: Send + Sync {
    fn verify(&self, key: &PublicKey, message: &[u8], signature: &Signature) -> bool;
}

/// The portable verifier: `protocol`'s pure-Rust P-256.
#[derive(Debug, Clone, Copy, Default)]
pub struct PortableVerifier;

impl Verifier for PortableVerifier {
    fn verify(&self, key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
        key.verify(message, signature).is_ok()
    }
}

/// A frame after the state-independent checks.
#[derive(Debug, Clone)]
pub enum Inbound {
    /// A join answer, parsed but not verified (its signature covers the connection's
    /// challenge, which the room holds).
    Hello { v: u32, key: PublicKey, sig: Signature, invite: Option<Box<InviteProof>> },
    /// A join answer whose signatures the host verified.
    VerifiedHello(Box<crate::verified::VerifiedHello>),
    /// A message whose shape, size and signature are valid.
    Send(Box<Envelope>),
    /// An ephemeral envelope (relayed, never stored) whose shape, size and signature are
    /// valid.
    Ephemeral(Box<Envelope>),
    /// A request to drop the content of a stored message (nothing to verify: the room
    /// checks the connection's key against the message's sender and the owner).
    Erase(MessageKey),
    /// Refused before reaching the room's state.
    Refused(ErrorBody),
    /// A message refused before reaching the room's state (the refusal names its `cid`).
    RefusedMessage(ErrorBody, ClientMessageId),
}

/// Runs the checks that need no room state. `hello_sent` says whether this connection
/// has already sent a `hello` (a `send` before it is refused without verifying anything).
pub fn prepare(text: &str, limits: &Limits, verifier: &dyn Verifier, hello_sent: bool) -> Inbound {
    match prepare_deferred(text, limits, hello_sent) {
        Prepared::Ready(inbound) => inbound,
        Prepared::Signature(pending) => {
            let valid = verifier.verify(pending.key(), &pending.transcript(), pending.signature());
            pending.finish(valid)
        }
    }
}

/// A frame after every state-independent check but the sender's signature.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Nothing left to verify (refused, or a `hello`, whose signature the room checks).
    Ready(Inbound),
    /// A message (stored or ephemeral) whose signature the host verifies its own way.
    Signature(PendingSignature),
}

/// A message that passed every check but its signature. The host verifies
/// [`PendingSignature::transcript`] against [`PendingSignature::signature`] by
/// [`PendingSignature::key`] (WebCrypto on the edge, across an await) and hands what it
/// found to [`PendingSignature::finish`]: the room only ever gets an [`Inbound::Send`] or
/// [`Inbound::Ephemeral`] whose signature was checked.
#[derive(Debug, Clone)]
pub struct PendingSignature {
    env: Box<Envelope>,
    ephemeral: bool,
}

impl PendingSignature {
    /// The key that must have signed: the envelope's sender.
    pub fn key(&self) -> &PublicKey {
        &self.env.sender
    }

    /// What the sender signed.
    pub fn transcript(&self) -> Vec<u8> {
        self.env.signature_transcript()
    }

    pub fn signature(&self) -> &Signature {
        &self.env.sig
    }

    /// The frame for the room, given whether the signature verified.
    pub fn finish(self, valid: bool) -> Inbound {
        match (valid, self.ephemeral) {
            (false, _) => Inbound::RefusedMessage(bad_signature(), self.env.cid),
            (true, false) => Inbound::Send(self.env),
            (true, true) => Inbound::Ephemeral(self.env),
        }
    }
}

/// [`prepare`] without the signature check, which is left to the host.
pub fn prepare_deferred(text: &str, limits: &Limits, hello_sent: bool) -> Prepared {
    let max = limits.max_frame_bytes;
    if text.len() as u64 > max {
        return Prepared::Ready(Inbound::Refused(
            ErrorBody::new(ErrorCode::FrameTooLarge, format!("frames are limited to {max} bytes")).with_limit(max),
        ));
    }
    let (env, ephemeral) = match serde_json::from_str::<ClientFrame>(text) {
        Err(e) => {
            return Prepared::Ready(Inbound::Refused(ErrorBody::new(
                ErrorCode::MalformedFrame,
                format!("invalid frame: {e}"),
            )));
        }
        Ok(ClientFrame::Hello { v, key, sig, invite }) => {
            return Prepared::Ready(Inbound::Hello { v, key, sig, invite: invite.map(Box::new) });
        }
        Ok(ClientFrame::Send { .. } | ClientFrame::Ephemeral { .. } | ClientFrame::Erase { .. }) if !hello_sent => {
            return Prepared::Ready(Inbound::Refused(ErrorBody::new(
                ErrorCode::NotJoined,
                "answer the challenge before sending",
            )));
        }
        Ok(ClientFrame::Erase { key }) => return Prepared::Ready(Inbound::Erase(key)),
        Ok(ClientFrame::Send { env }) => (env, false),
        Ok(ClientFrame::Ephemeral { env }) => (env, true),
    };
    match check_envelope(&env, text.len(), limits) {
        Ok(()) => Prepared::Signature(PendingSignature { env: Box::new(env), ephemeral }),
        Err(e) => Prepared::Ready(Inbound::RefusedMessage(e, env.cid)),
    }
}

fn bad_signature() -> ErrorBody {
    ErrorBody::new(ErrorCode::BadSignature, "the message signature does not verify against its sender")
}

/// Everything about a message that can be checked without the room, but its signature.
fn check_envelope(env: &Envelope, frame_len: usize, limits: &Limits) -> Result<(), ErrorBody> {
    if env.v != ENVELOPE_VERSION {
        return Err(ErrorBody::new(
            ErrorCode::UnsupportedVersion,
            format!("envelope version {} is not supported; this server speaks {ENVELOPE_VERSION}", env.v),
        ));
    }
    if env.iv.0.len() != 12 || env.ct.0.len() < 16 {
        return Err(ErrorBody::new(ErrorCode::MalformedFrame, "iv must be 12 bytes and ct at least 16"));
    }
    let max = limits.max_message_bytes;
    // The frame's length bounds the envelope's JSON (the stored form adds the key), so
    // most messages need no second serialisation to be measured.
    let size = if (frame_len + STORED_KEY_OVERHEAD) as u64 <= max { 0 } else { env.stored_len() as u64 };
    if size > max {
        return Err(ErrorBody::new(
            ErrorCode::MessageTooLarge,
            format!("the message is {size} bytes; the limit is {max}"),
        )
        .with_limit(max));
    }
    Ok(())
}
