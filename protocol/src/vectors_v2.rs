//! Test vectors for what protocol v2 added, with every input spelled out so an outside
//! implementation can recompute each byte: invite keys and proofs, the owner-signed room
//! state (its transcript in hex and its signature), the sealed message of the day, signed
//! requests (transcript in hex), a whisper and two call signals sealed under the pair
//! key, a wrapped key with its room id, safety numbers (transcript, both fingerprints,
//! the number), and a call membership proof.
//!
//! `vectors/v2.json` is checked by the native tests of this crate and, in headless
//! Chromium, by the SPA's wasm-bindgen tests. `cargo run -p cloakroom-protocol --example
//! gen_vectors` rewrites it together with `v1.json`. ECDSA signatures are deterministic
//! (RFC 6979), so signatures are reproducible too.

use serde::{Deserialize, Serialize};

use crate::call::{self, Signal};
use crate::content_key::ContentKey;
use crate::encoding::{b64, unb64_array};
use crate::envelope::{self, B64Bytes, Content, Envelope, MessageBody, SealInput};
use crate::identity::{IdentityKey, PublicKey, Signature};
use crate::ids::{ClientMessageId, RoomId};
use crate::invite::{InviteProof, invite_key};
use crate::key_wrap::{self, WrappedKey};
use crate::room_state::{SealedMotd, SignedState, StateFields};
use crate::safety_number::{Fingerprint, SafetyNumber};
use crate::signed_request::{RequestAuth, RequestTarget};
use crate::whisper;

/// The committed vector file.
pub const V2_JSON: &str = include_str!("../vectors/v2.json");

/// An invite key derived from a link's content key, and a newcomer's proof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteVector {
    pub room: RoomId,
    pub content_key: String,
    pub member_secret: String,
    /// The invite key's secret scalar (32 bytes) and public key.
    pub invite_secret: String,
    pub invite_public: PublicKey,
    pub proof: InviteProof,
}

/// An owner-signed state: inputs, transcript (hex) and signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateVector {
    pub owner_secret: String,
    /// The message of the day's inputs (sealed under `motd_key` with `motd_iv`), if any.
    pub motd_text: Option<String>,
    pub motd_key: Option<String>,
    pub motd_iv: Option<String>,
    pub transcript_hex: String,
    pub state: SignedState,
}

/// A signed request: inputs, transcript (hex), and the signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedRequestVector {
    pub secret: String,
    pub method: String,
    pub path: String,
    pub query: String,
    /// The body as text (its SHA-256 is in the transcript).
    pub body: String,
    pub timestamp_ms: u64,
    /// The 16 nonce bytes (the header carries their base64url text).
    pub nonce_bytes: String,
    pub transcript_hex: String,
    /// What the four headers carry.
    pub key: PublicKey,
    pub nonce: String,
    pub sig: Signature,
}

/// A whisper: sealed under the pair key of sender and recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhisperEnvelopeVector {
    pub owner_secret: String,
    pub sender_secret: String,
    pub recipient_secret: String,
    pub cid: String,
    pub iv: String,
    pub body: MessageBody,
    /// The pair key (both ends compute it).
    pub pair_key: String,
    pub envelope: Envelope,
}

/// A wrapped room key, with the room id that is part of its transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomWrapVector {
    pub room: RoomId,
    pub owner_secret: String,
    pub member_secret: String,
    pub epoch: u32,
    pub content_key: String,
    pub iv: String,
    pub wrapped: WrappedKey,
}

/// The safety number of two members of a room, with both fingerprints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SafetyNumberVector {
    pub room: RoomId,
    pub a_secret: String,
    pub b_secret: String,
    /// The fingerprint transcript of `a` (hex), then both 30-digit fingerprints.
    pub a_transcript_hex: String,
    pub a_fingerprint: String,
    pub b_fingerprint: String,
    /// The 60 digits both members see.
    pub safety_number: String,
}

/// A call membership proof ([`call::member_proof`]) and its inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberProofVector {
    pub room: RoomId,
    /// The content key of the key epoch being proven.
    pub content_key: String,
    pub call: String,
    pub from: PublicKey,
    pub to: PublicKey,
    pub proof: String,
}

/// Every v2 vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorsV2 {
    pub version: u32,
    pub invites: Vec<InviteVector>,
    pub states: Vec<StateVector>,
    pub signed_requests: Vec<SignedRequestVector>,
    pub whispers: Vec<WhisperEnvelopeVector>,
    pub wraps: Vec<RoomWrapVector>,
    pub safety_numbers: Vec<SafetyNumberVector>,
    pub member_proofs: Vec<MemberProofVector>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(secret: &str) -> Result<IdentityKey, String> {
    IdentityKey::from_secret_b64(secret).map_err(|e| e.to_string())
}

fn content(text: &str) -> Result<ContentKey, String> {
    ContentKey::parse(text).map_err(|e| e.to_string())
}

fn iv(text: &str) -> Result<[u8; 12], String> {
    unb64_array::<12>(text).map_err(|e| e.to_string())
}

/// The committed v2 vectors.
pub fn load() -> VectorsV2 {
    serde_json::from_str(V2_JSON).expect("vectors/v2.json parses")
}

/// Builds every v2 vector from fixed inputs.
pub fn generate() -> VectorsV2 {
    let owner = IdentityKey::from_secret_bytes(&[0x21; 32]).expect("fixed key");
    let member = IdentityKey::from_secret_bytes(&[0x22; 32]).expect("fixed key");
    let room = RoomId::from_owner_key(&owner.public_key());
    let link = ContentKey::from_bytes([0x23; 32]);
    let invite = invite_key(&room, &link);
    let invites = vec![InviteVector {
        room: room.clone(),
        content_key: link.to_b64(),
        member_secret: member.to_secret_b64(),
        invite_secret: invite.to_secret_b64(),
        invite_public: invite.public_key(),
        proof: InviteProof::make(&room, &link, &member.public_key()),
    }];
    let plain = StateFields {
        version: 1,
        epoch: 0,
        locked: false,
        capacity: 50,
        invite: invite.public_key(),
        invite_epoch: 0,
        motd: None,
        name: None,
    };
    let epoch_key = ContentKey::from_bytes([0x24; 32]);
    let motd_iv = [0x25; 12];
    let with_motd = StateFields {
        version: 7,
        epoch: 2,
        locked: true,
        capacity: 12,
        invite: invite.public_key(),
        invite_epoch: 0,
        motd: Some(SealedMotd::seal(&room, 2, &epoch_key, "Bienvenue — welcome", motd_iv)),
        name: None,
    };
    let states = [(plain, None), (with_motd, Some("Bienvenue — welcome"))]
        .into_iter()
        .map(|(fields, text)| {
            let state = SignedState::sign(&owner, &room, fields);
            StateVector {
                owner_secret: owner.to_secret_b64(),
                motd_text: text.map(str::to_owned),
                motd_key: text.map(|_| epoch_key.to_b64()),
                motd_iv: text.map(|_| b64(&motd_iv)),
                transcript_hex: hex(&state.transcript()),
                state,
            }
        })
        .collect();
    let body = format!(r#"{{"state":{{"room":"{room}","note":"ünïcode"}}}}"#);
    let target = RequestTarget::new("PUT", &format!("/api/rooms/{room}/owner/state"), "", body.as_bytes());
    let nonce = [0x26; 16];
    let auth = RequestAuth::sign(&owner, &target, 1_767_225_600_000, nonce);
    let signed_requests = vec![SignedRequestVector {
        secret: owner.to_secret_b64(),
        method: "PUT".into(),
        path: format!("/api/rooms/{room}/owner/state"),
        query: String::new(),
        body,
        timestamp_ms: 1_767_225_600_000,
        nonce_bytes: b64(&nonce),
        transcript_hex: hex(&auth.transcript(&target)),
        key: auth.key,
        nonce: auth.nonce.clone(),
        sig: auth.sig,
    }];
    let pair = whisper::pair_key(&member, &owner.public_key(), &room);
    let cid = ClientMessageId::parse("whisper-1").expect("fixed id");
    let text = MessageBody { alias: "Bob".into(), content: Content::text("only you read this") };
    let owner_pub = owner.public_key();
    let env = envelope::seal(
        &SealInput { room: &room, epoch: 0, cid: &cid, to: Some(&owner_pub), body: &text },
        &pair,
        &member,
        [0x27; 12],
    );
    let mut whispers = vec![WhisperEnvelopeVector {
        owner_secret: owner.to_secret_b64(),
        sender_secret: member.to_secret_b64(),
        recipient_secret: owner.to_secret_b64(),
        cid: cid.as_str().into(),
        iv: b64(&[0x27; 12]),
        body: text,
        pair_key: pair.to_b64(),
        envelope: env,
    }];
    // Call signals ride the same seal (ephemeral: relayed, never stored): an offer that
    // names a third person already in the call, and a membership proof.
    let third = IdentityKey::from_secret_bytes(&[0x2a; 32]).expect("fixed key");
    let call_id = "Q2xvYWtyb29tQ2FsbElkMQ";
    let fp = "sha-256 8A:1E:33:0C:9F:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA";
    let sdp = format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:{fp}\r\n"
    );
    let offer = Signal::Offer { sdp, fingerprint: fp.into(), video: false, people: vec![third.public_key()] };
    let proof = call::member_proof(&epoch_key, &room, call_id, &member.public_key(), &owner_pub);
    let member_signal = Signal::Member { epoch: 2, proof: B64Bytes(proof.to_vec()) };
    for (n, signal) in [offer, member_signal].into_iter().enumerate() {
        let cid = ClientMessageId::parse(&format!("call-signal-{}", n + 1)).expect("fixed id");
        let body = MessageBody { alias: "Bob".into(), content: Content::CallSignal { call: call_id.into(), signal } };
        let iv = [0x2b + n as u8; 12];
        let envelope = envelope::seal(
            &SealInput { room: &room, epoch: 0, cid: &cid, to: Some(&owner_pub), body: &body },
            &pair,
            &member,
            iv,
        );
        whispers.push(WhisperEnvelopeVector {
            owner_secret: owner.to_secret_b64(),
            sender_secret: member.to_secret_b64(),
            recipient_secret: owner.to_secret_b64(),
            cid: cid.as_str().into(),
            iv: b64(&iv),
            body,
            pair_key: pair.to_b64(),
            envelope,
        });
    }
    let member_proofs = vec![MemberProofVector {
        room: room.clone(),
        content_key: epoch_key.to_b64(),
        call: call_id.into(),
        from: member.public_key(),
        to: owner_pub,
        proof: b64(&proof),
    }];
    let wrap_iv = [0x28; 12];
    let wraps = vec![RoomWrapVector {
        room: room.clone(),
        owner_secret: owner.to_secret_b64(),
        member_secret: member.to_secret_b64(),
        epoch: 2,
        content_key: epoch_key.to_b64(),
        iv: b64(&wrap_iv),
        wrapped: key_wrap::wrap(&owner, &member.public_key(), &room, 2, &epoch_key, wrap_iv),
    }];
    let safety_numbers = [&member, &IdentityKey::from_secret_bytes(&[0x29; 32]).expect("fixed key")]
        .into_iter()
        .map(|b| SafetyNumberVector {
            room: room.clone(),
            a_secret: owner.to_secret_b64(),
            b_secret: b.to_secret_b64(),
            a_transcript_hex: hex(&crate::transcript::safety_number(&room, &owner.public_key())),
            a_fingerprint: Fingerprint::of(&room, &owner.public_key()).digits().into(),
            b_fingerprint: Fingerprint::of(&room, &b.public_key()).digits().into(),
            safety_number: SafetyNumber::of(&room, &owner.public_key(), &b.public_key()).digits().into(),
        })
        .collect();
    VectorsV2 {
        version: crate::PROTOCOL_VERSION,
        invites,
        states,
        signed_requests,
        whispers,
        wraps,
        safety_numbers,
        member_proofs,
    }
}

/// Recomputes every vector from its inputs; the number of checks that passed.
pub fn check_all(v: &VectorsV2) -> Result<usize, String> {
    let mut checks = 0;
    for i in &v.invites {
        let derived = invite_key(&i.room, &content(&i.content_key)?);
        if derived.to_secret_b64() != i.invite_secret || derived.public_key() != i.invite_public {
            return Err("invite vector: the derived invite key differs".into());
        }
        let member = key(&i.member_secret)?.public_key();
        if InviteProof::make(&i.room, &content(&i.content_key)?, &member) != i.proof
            || !i.proof.verifies(&i.room, &member)
        {
            return Err("invite vector: the proof differs or does not verify".into());
        }
        checks += 2;
    }
    for s in &v.states {
        let owner = key(&s.owner_secret)?;
        if hex(&s.state.transcript()) != s.transcript_hex {
            return Err(format!("state vector v{}: transcript differs", s.state.version));
        }
        if SignedState::sign(&owner, &s.state.room, s.state.fields()) != s.state {
            return Err(format!("state vector v{}: signature differs", s.state.version));
        }
        s.state.verify(&s.state.room, &owner.public_key()).map_err(|e| e.to_string())?;
        if let (Some(text), Some(k), Some(motd_iv), Some(sealed)) =
            (&s.motd_text, &s.motd_key, &s.motd_iv, &s.state.motd)
        {
            let resealed = SealedMotd::seal(&s.state.room, s.state.epoch, &content(k)?, text, iv(motd_iv)?);
            if resealed != *sealed || sealed.open(&s.state.room, s.state.epoch, &content(k)?).as_deref() != Ok(text) {
                return Err("state vector: sealed message of the day differs".into());
            }
            checks += 1;
        }
        checks += 2;
    }
    for r in &v.signed_requests {
        let who = key(&r.secret)?;
        let target = RequestTarget::new(&r.method, &r.path, &r.query, r.body.as_bytes());
        let nonce = unb64_array::<16>(&r.nonce_bytes).map_err(|e| e.to_string())?;
        let auth = RequestAuth::sign(&who, &target, r.timestamp_ms, nonce);
        let same = auth.key == r.key && auth.nonce == r.nonce && auth.sig == r.sig;
        if !same
            || hex(&auth.transcript(&target)) != r.transcript_hex
            || r.key.verify(&auth.transcript(&target), &r.sig).is_err()
        {
            return Err("signed request vector differs".into());
        }
        checks += 1;
    }
    for w in &v.whispers {
        let (sender, recipient) = (key(&w.sender_secret)?, key(&w.recipient_secret)?);
        let room = RoomId::from_owner_key(&key(&w.owner_secret)?.public_key());
        let pair = whisper::pair_key(&sender, &recipient.public_key(), &room);
        if pair.to_b64() != w.pair_key || whisper::pair_key(&recipient, &sender.public_key(), &room) != pair {
            return Err("whisper vector: pair key differs".into());
        }
        let cid = ClientMessageId::parse(&w.cid).map_err(|e| e.to_string())?;
        let to = recipient.public_key();
        let sealed = envelope::seal(
            &SealInput { room: &room, epoch: w.envelope.epoch, cid: &cid, to: Some(&to), body: &w.body },
            &pair,
            &sender,
            iv(&w.iv)?,
        );
        if sealed != w.envelope || envelope::open(&w.envelope, &pair).map_err(|e| e.to_string())? != w.body {
            return Err("whisper vector: envelope differs".into());
        }
        checks += 2;
    }
    for m in &v.member_proofs {
        let proof = call::member_proof(&content(&m.content_key)?, &m.room, &m.call, &m.from, &m.to);
        if b64(&proof) != m.proof {
            return Err("member proof vector differs".into());
        }
        checks += 1;
    }
    for w in &v.wraps {
        let (owner, member) = (key(&w.owner_secret)?, key(&w.member_secret)?);
        let wrapped =
            key_wrap::wrap(&owner, &member.public_key(), &w.room, w.epoch, &content(&w.content_key)?, iv(&w.iv)?);
        let opened = key_wrap::unwrap(&member, &w.wrapped, &w.room).map_err(|e| e.to_string())?;
        if wrapped != w.wrapped || opened.to_b64() != w.content_key {
            return Err("wrap vector differs".into());
        }
        checks += 2;
    }
    for n in &v.safety_numbers {
        let (a, b) = (key(&n.a_secret)?.public_key(), key(&n.b_secret)?.public_key());
        let number = SafetyNumber::of(&n.room, &a, &b);
        if hex(&crate::transcript::safety_number(&n.room, &a)) != n.a_transcript_hex
            || Fingerprint::of(&n.room, &a).digits() != n.a_fingerprint
            || Fingerprint::of(&n.room, &b).digits() != n.b_fingerprint
            || number.digits() != n.safety_number
            || SafetyNumber::of(&n.room, &b, &a) != number
        {
            return Err("safety number vector differs".into());
        }
        checks += 1;
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_v2_vectors_hold_and_match_generation() {
        let committed = load();
        assert_eq!(committed.version, crate::PROTOCOL_VERSION);
        assert_eq!(check_all(&committed), Ok(2 + 5 + 1 + 3 * 2 + 2 + 2 + 1));
        assert_eq!(generate(), committed, "vectors/v2.json is stale: regenerate it with the gen_vectors example");
    }

    #[test]
    fn a_corrupted_v2_vector_is_caught() {
        let mut v = load();
        v.states[1].state.capacity += 1;
        assert!(check_all(&v).is_err());
        let mut v = load();
        v.signed_requests[0].transcript_hex.replace_range(0..2, "ff");
        assert!(check_all(&v).is_err());
        let mut v = load();
        v.safety_numbers[1].safety_number.replace_range(0..1, "x");
        assert!(check_all(&v).is_err());
    }
}
