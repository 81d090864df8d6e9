//! Call signalling: what two members' browsers say to each other to set up an end-to-end
//! encrypted voice or video call. Each signal is the content of an ephemeral envelope
//! addressed to one member (`to`): sealed with the pair key of the two, signed by the
//! sender's room identity, relayed by the room to that member's connections only and never
//! stored. The media then flows peer to peer under DTLS-SRTP, keyed by the certificates
//! whose fingerprints the signed offer and answer carry: a server (or TURN relay) that
//! sees every packet can neither read the media nor put itself in the middle, because it
//! cannot change a signal without breaking its seal and signature.
//!
//! Offers and answers carry the complete SDP with every ICE candidate gathered (no
//! trickle: one frame each way, well inside the rate limit), and the DTLS fingerprint
//! again, which the receiver checks against the SDP's own before using it ([`check`]).
//!
//! When the room's key changes (the owner removed someone), everyone in a call proves to
//! each other person in it that it holds the new epoch's key ([`Signal::Member`],
//! [`member_proof`]); a person who cannot is dropped from the call, so a removed member
//! whose browser does not leave on its own is cut off all the same.

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::content_key::ContentKey;
use crate::envelope::B64Bytes;
use crate::identity::PublicKey;
use crate::ids::RoomId;

/// Most people in one call (a full mesh: each sends its media to every other, so upload
/// grows with the size; an SFU with SFrame would lift this).
pub const MAX_CALL_PEOPLE: usize = 4;
/// Largest SDP in an offer or answer.
pub const MAX_SDP_BYTES: usize = 16 * 1024;
/// Characters of a call id.
pub const CALL_ID_CHARS: usize = 22;
/// How long a call rings before the caller gives up (ms).
pub const RING_TIMEOUT_MS: u64 = 30_000;
/// How long after learning of a new key epoch a person in a call waits for each other
/// one's [`Signal::Member`] proof before dropping them from the call (ms).
pub const MEMBER_PROOF_TIMEOUT_MS: u64 = 10_000;

/// One call signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    /// An invitation (or, within a call, a renegotiation such as an ICE restart): the
    /// sender's session description and its DTLS certificate fingerprint. `people` are
    /// the others already in the call (at most [`MAX_CALL_PEOPLE`] − 2): whoever accepts
    /// connects to each of them too, which makes the call a full mesh. Absent when empty.
    Offer {
        sdp: String,
        fingerprint: String,
        video: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        people: Vec<PublicKey>,
    },
    /// The answer to an offer.
    Answer { sdp: String, fingerprint: String },
    /// The callee does not take the call.
    Decline,
    /// The sender leaves the call (or stops ringing).
    HangUp,
    /// After a change of the room key: the sender holds epoch `epoch`'s key
    /// (`proof` = [`member_proof`], 32 bytes).
    Member { epoch: u32, proof: B64Bytes },
}

/// The proof that the sender of a [`Signal::Member`] holds `key`, the content key of a
/// key epoch: HKDF-SHA256 (salt `cloakroom call member v1`, the key as input) expanded
/// over the room id, the call id, the sender's and the recipient's keys. Only members
/// the owner gave that key can make it; it names the call and both people, so it cannot
/// be replayed to another call or person.
pub fn member_proof(key: &ContentKey, room: &RoomId, call: &str, from: &PublicKey, to: &PublicKey) -> [u8; 32] {
    let mut info = Vec::new();
    for part in [room.as_str().as_bytes(), call.as_bytes(), from.to_b64().as_bytes(), to.to_b64().as_bytes()] {
        info.extend_from_slice(part);
        info.push(0);
    }
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(b"cloakroom call member v1"), key.as_bytes())
        .expand(&info, &mut out)
        .expect("32 bytes is a valid HKDF length");
    out
}

/// Why a signal is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the call id is not {CALL_ID_CHARS} base64url characters")]
    BadCallId,
    #[error("the session description is over {MAX_SDP_BYTES} bytes")]
    SdpTooLarge,
    #[error("the session description names no single DTLS fingerprint")]
    NoFingerprint,
    #[error("the session description's DTLS fingerprint is not the one the signed signal names")]
    FingerprintMismatch,
    #[error("a member proof is 32 bytes")]
    BadMemberProof,
    #[error("an offer names more people than a call holds ({MAX_CALL_PEOPLE} at most)")]
    TooManyPeople,
}

/// The DTLS certificate fingerprint an SDP names (`a=fingerprint:<alg> <hex>`, as
/// written), if it names exactly one (every media section repeats the same one).
pub fn fingerprint(sdp: &str) -> Option<String> {
    let mut found: Option<&str> = None;
    for line in sdp.lines() {
        if let Some(value) = line.trim_end_matches('\r').strip_prefix("a=fingerprint:") {
            let value = value.trim();
            match found {
                Some(f) if !f.eq_ignore_ascii_case(value) => return None,
                Some(_) => {}
                None => found = Some(value),
            }
        }
    }
    found.filter(|f| !f.is_empty()).map(str::to_owned)
}

/// Checks a received signal of call `call`: the id's shape, the SDP's size, and that the
/// SDP's DTLS fingerprint is the one the signal names.
pub fn check(call: &str, signal: &Signal) -> Result<(), CallError> {
    let id_ok =
        call.len() == CALL_ID_CHARS && call.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(CallError::BadCallId);
    }
    match signal {
        Signal::Offer { people, .. } if people.len() > MAX_CALL_PEOPLE - 2 => Err(CallError::TooManyPeople),
        Signal::Offer { sdp, fingerprint: named, .. } | Signal::Answer { sdp, fingerprint: named } => {
            if sdp.len() > MAX_SDP_BYTES {
                return Err(CallError::SdpTooLarge);
            }
            let actual = fingerprint(sdp).ok_or(CallError::NoFingerprint)?;
            if !actual.eq_ignore_ascii_case(named) {
                return Err(CallError::FingerprintMismatch);
            }
            Ok(())
        }
        Signal::Member { proof, .. } if proof.0.len() != 32 => Err(CallError::BadMemberProof),
        Signal::Decline | Signal::HangUp | Signal::Member { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str =
        "sha-256 8A:1E:33:0C:9F:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA";
    const ID: &str = "AAAAAAAAAAAAAAAAAAAAAA";

    fn sdp(fingerprints: &[&str]) -> String {
        let mut s = String::from("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
        for f in fingerprints {
            s.push_str(&format!("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:{f}\r\n"));
        }
        s
    }

    #[test]
    fn the_fingerprint_is_found_once_or_not_at_all() {
        assert_eq!(fingerprint(&sdp(&[FP])).as_deref(), Some(FP));
        assert_eq!(fingerprint(&sdp(&[FP, FP])).as_deref(), Some(FP), "every section repeats it");
        assert_eq!(fingerprint(&sdp(&[FP, &FP.to_lowercase()])).as_deref(), Some(FP), "hex case does not matter");
        let other = FP.replace("8A", "8B");
        assert_eq!(fingerprint(&sdp(&[FP, &other])), None, "two different certificates: none");
        assert_eq!(fingerprint(&sdp(&[])), None);
        assert_eq!(fingerprint("a=fingerprint:\n"), None);
    }

    #[test]
    fn a_signal_whose_sdp_names_another_certificate_is_refused() {
        let offer = |sdp: String, fingerprint: &str| Signal::Offer {
            sdp,
            fingerprint: fingerprint.into(),
            video: true,
            people: Vec::new(),
        };
        assert_eq!(check(ID, &offer(sdp(&[FP]), FP)), Ok(()));
        let rewritten = sdp(&[&FP.replace("8A", "8B")]);
        assert_eq!(check(ID, &offer(rewritten, FP)), Err(CallError::FingerprintMismatch));
        assert_eq!(check(ID, &offer(sdp(&[]), FP)), Err(CallError::NoFingerprint));
        let answer = Signal::Answer { sdp: sdp(&[FP]), fingerprint: FP.to_lowercase() };
        assert_eq!(check(ID, &answer), Ok(()));
        assert_eq!(check(ID, &Signal::HangUp), Ok(()));
        for bad in ["", "short", &format!("{ID}A"), "AAAAAAAAAAAAAAAAAAAA+/"] {
            assert_eq!(check(bad, &Signal::Decline), Err(CallError::BadCallId), "{bad:?}");
        }
    }

    #[test]
    fn a_member_proof_names_the_key_room_call_and_both_people() {
        let room = RoomId::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let other_room = RoomId::parse("BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let (key, other_key) = (ContentKey::from_bytes([7; 32]), ContentKey::from_bytes([8; 32]));
        let ann = crate::identity::IdentityKey::from_secret_bytes(&[1; 32]).unwrap().public_key();
        let bea = crate::identity::IdentityKey::from_secret_bytes(&[2; 32]).unwrap().public_key();
        let proof = member_proof(&key, &room, ID, &ann, &bea);
        assert_eq!(proof, member_proof(&key, &room, ID, &ann, &bea), "deterministic");
        for changed in [
            member_proof(&other_key, &room, ID, &ann, &bea),
            member_proof(&key, &other_room, ID, &ann, &bea),
            member_proof(&key, &room, "BBBBBBBBBBBBBBBBBBBBBB", &ann, &bea),
            member_proof(&key, &room, ID, &bea, &ann),
        ] {
            assert_ne!(proof, changed);
        }
        let signal = Signal::Member { epoch: 3, proof: B64Bytes(proof.to_vec()) };
        assert_eq!(check(ID, &signal), Ok(()));
        let short = Signal::Member { epoch: 3, proof: B64Bytes(vec![0; 31]) };
        assert_eq!(check(ID, &short), Err(CallError::BadMemberProof));
    }

    fn person(n: u8) -> PublicKey {
        crate::identity::IdentityKey::from_secret_bytes(&[n; 32]).unwrap().public_key()
    }

    #[test]
    fn an_offer_names_at_most_the_others_a_call_can_hold() {
        let offer =
            |people: Vec<PublicKey>| Signal::Offer { sdp: sdp(&[FP]), fingerprint: FP.into(), video: true, people };
        let at: Vec<PublicKey> = (1..=(MAX_CALL_PEOPLE - 2) as u8).map(person).collect();
        assert_eq!(check(ID, &offer(at)), Ok(()), "the caller, the callee and the people named fill the call");
        let past: Vec<PublicKey> = (1..=(MAX_CALL_PEOPLE - 1) as u8).map(person).collect();
        assert_eq!(check(ID, &offer(past)), Err(CallError::TooManyPeople));
    }

    #[test]
    fn sdp_size_at_and_past_the_limit() {
        let base = sdp(&[FP]);
        let at = format!("{base}{}", "a=x\r\n".repeat((MAX_SDP_BYTES - base.len()) / 5));
        let at = format!("{at}{}", " ".repeat(MAX_SDP_BYTES - at.len()));
        assert_eq!(at.len(), MAX_SDP_BYTES);
        assert_eq!(check(ID, &Signal::Answer { sdp: at.clone(), fingerprint: FP.into() }), Ok(()));
        let past = format!("{at} ");
        assert_eq!(check(ID, &Signal::Answer { sdp: past, fingerprint: FP.into() }), Err(CallError::SdpTooLarge));
    }

    #[test]
    fn the_json_forms_are_fixed() {
        let forms = [
            (Signal::HangUp, r#"{"kind":"hang_up"}"#.to_owned()),
            (Signal::Decline, r#"{"kind":"decline"}"#.to_owned()),
            (
                Signal::Member { epoch: 2, proof: B64Bytes(vec![0; 32]) },
                r#"{"kind":"member","epoch":2,"proof":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#.to_owned(),
            ),
            (
                Signal::Answer { sdp: "v=0".into(), fingerprint: "sha-256 AA".into() },
                r#"{"kind":"answer","sdp":"v=0","fingerprint":"sha-256 AA"}"#.to_owned(),
            ),
            (
                Signal::Offer { sdp: "v=0".into(), fingerprint: "sha-256 AA".into(), video: true, people: Vec::new() },
                r#"{"kind":"offer","sdp":"v=0","fingerprint":"sha-256 AA","video":true}"#.to_owned(),
            ),
            (
                Signal::Offer {
                    sdp: "v=0".into(),
                    fingerprint: "sha-256 AA".into(),
                    video: false,
                    people: vec![person(1), person(2)],
                },
                format!(
                    r#"{{"kind":"offer","sdp":"v=0","fingerprint":"sha-256 AA","video":false,"people":["{}","{}"]}}"#,
                    person(1).to_b64(),
                    person(2).to_b64()
                ),
            ),
        ];
        for (signal, json) in forms {
            assert_eq!(serde_json::to_string(&signal).unwrap(), json);
            assert_eq!(serde_json::from_str::<Signal>(&json).unwrap(), signal);
        }
        let content = crate::envelope::Content::CallSignal { call: ID.into(), signal: Signal::HangUp };
        assert_eq!(
            serde_json::to_string(&content).unwrap(),
            format!(r#"{{"type":"call_signal","call":"{ID}","signal":{{"kind":"hang_up"}}}}"#)
        );
        assert!(content.is_ephemeral(), "signals are never stored");
        let ended = crate::envelope::Content::CallEnded { seconds: 65, video: true };
        assert_eq!(serde_json::to_string(&ended).unwrap(), r#"{"type":"call_ended","seconds":65,"video":true}"#);
        assert!(!ended.is_ephemeral());
    }
}
