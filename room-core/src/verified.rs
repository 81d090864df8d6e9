//! Inputs whose signatures were checked before they reach the room, so a host verifies
//! its own way: synchronously (mock-server, with `ring`), in parallel (in each
//! connection's task), or across an await (WebCrypto in a Worker).
//!
//! | input | the host checks | the room still checks |
//! |---|---|---|
//! | a message ([`crate::inbound::prepare`]) | shape, size, the sender's signature | room, sender = joined key, epoch, dedup, budget, rate |
//! | a join answer ([`VerifiedHello`]) | the signature over this connection's challenge ([`crate::Room::challenge`]); the invite proof's signature | the proof's invite key is the signed one, access, capacity |
//! | a signed request ([`VerifiedRequest`]) | the signature over the request | freshness, the single-use nonce, the key's role |
//!
//! The room cannot be handed an unverified input by mistake: these types are made only
//! by a check here ([`VerifiedRequest::check`], [`verify_hello`]) or by a host saying what
//! its own check found ([`VerifiedRequest::from_host_check`], [`VerifiedHello::from_host_check`]).
//! An [`Inbound::Hello`] that was not verified is verified by the room itself with the
//! configured [`Verifier`]. Owner-signed room states (which arrive only in owner calls
//! and room creation) are verified by the room with the configured verifier.

use protocol::error::{ErrorBody, ErrorCode};
use protocol::identity::{PublicKey, Signature};
use protocol::ids::RoomId;
use protocol::invite::InviteProof;
use protocol::signed_request::{RequestAuth, RequestTarget};
use protocol::transcript;

use crate::inbound::{Inbound, Verifier};

/// A signed HTTP request whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedRequest {
    auth: RequestAuth,
    target: RequestTarget,
}

fn bad_request_signature() -> ErrorBody {
    ErrorBody::new(ErrorCode::Unauthorized, "the request signature does not verify")
}

impl VerifiedRequest {
    /// What the request's key must have signed.
    pub fn transcript(auth: &RequestAuth, target: &RequestTarget) -> Vec<u8> {
        auth.transcript(target)
    }

    /// Verifies with `verifier`.
    pub fn check(auth: RequestAuth, target: RequestTarget, verifier: &dyn Verifier) -> Result<Self, ErrorBody> {
        let valid = verifier.verify(&auth.key, &auth.transcript(&target), &auth.sig);
        Self::from_host_check(auth, target, valid)
    }

    /// The host verified [`VerifiedRequest::transcript`] against `auth.sig` by `auth.key`
    /// itself; `valid` is what it found.
    pub fn from_host_check(auth: RequestAuth, target: RequestTarget, valid: bool) -> Result<Self, ErrorBody> {
        if valid { Ok(VerifiedRequest { auth, target }) } else { Err(bad_request_signature()) }
    }

    pub fn auth(&self) -> &RequestAuth {
        &self.auth
    }

    pub fn target(&self) -> &RequestTarget {
        &self.target
    }

    /// The key that signed.
    pub fn key(&self) -> &PublicKey {
        &self.auth.key
    }
}

/// A join answer whose signature over the connection's challenge verified.
#[derive(Debug, Clone)]
pub struct VerifiedHello {
    pub(crate) v: u32,
    pub(crate) key: PublicKey,
    /// The invite proof, if one came and its signature verified (whether its invite key
    /// is the room's is the room's check).
    pub(crate) invite: Option<InviteProof>,
}

impl VerifiedHello {
    /// The host checked the join signature (`join_valid`) and the invite proof's
    /// signature (`invite_valid`) itself; see [`verify_hello`] for what each covers.
    pub fn from_host_check(
        v: u32,
        key: PublicKey,
        invite: Option<InviteProof>,
        join_valid: bool,
        invite_valid: bool,
    ) -> Result<Self, ErrorBody> {
        if !join_valid {
            return Err(ErrorBody::new(
                ErrorCode::BadChallengeResponse,
                "the signature does not answer this connection's challenge",
            ));
        }
        Ok(VerifiedHello { v, key, invite: invite.filter(|_| invite_valid) })
    }

    pub fn key(&self) -> &PublicKey {
        &self.key
    }
}

/// What a join answer's two signatures must cover: `(key, transcript, signature)` of the
/// join (the member's key over the room and this connection's challenge) and of the
/// invite proof (the invite key over the room and the member's key), if any.
pub fn hello_checks<'a>(
    room: &RoomId,
    challenge: &[u8; 32],
    key: &'a PublicKey,
    sig: &'a Signature,
    invite: Option<&'a InviteProof>,
) -> [Option<(&'a PublicKey, Vec<u8>, &'a Signature)>; 2] {
    [
        Some((key, transcript::join(room, challenge), sig)),
        invite.map(|p| (&p.invite, transcript::invite(room, key), &p.sig)),
    ]
}

/// Verifies a join answer against the challenge this connection was sent; anything but
/// an [`Inbound::Hello`] passes through unchanged.
pub fn verify_hello(room: &RoomId, challenge: &[u8; 32], frame: Inbound, verifier: &dyn Verifier) -> Inbound {
    let Inbound::Hello { v, key, sig, invite } = frame else { return frame };
    let [join, proof] = hello_checks(room, challenge, &key, &sig, invite.as_deref());
    let check = |c: Option<(&PublicKey, Vec<u8>, &Signature)>| c.is_some_and(|(k, m, s)| verifier.verify(k, &m, s));
    let (join_valid, invite_valid) = (check(join), check(proof));
    match VerifiedHello::from_host_check(v, key, invite.map(|i| *i), join_valid, invite_valid) {
        Ok(hello) => Inbound::VerifiedHello(Box::new(hello)),
        Err(e) => Inbound::Refused(e),
    }
}
