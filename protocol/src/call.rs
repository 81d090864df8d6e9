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

use serde::{Deserialize, Serialize};

/// Most people in one call (a full mesh: each sends its media to every other, so upload
/// grows with the size; an SFU with SFrame would lift this).
pub const MAX_CALL_PEOPLE: usize = 4;
/// Largest SDP in an offer or answer.
pub const MAX_SDP_BYTES: usize = 16 * 1024;
/// Characters of a call id.
pub const CALL_ID_CHARS: usize = 22;
/// How long a call rings before the caller gives up (ms).
pub const RING_TIMEOUT_MS: u64 = 30_000;

/// One call signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    /// An invitation (or, within a call, a renegotiation such as an ICE restart): the
    /// sender's session description and its DTLS certificate fingerprint.
    Offer { sdp: String, fingerprint: String, video: bool },
    /// The answer to an offer.
    Answer { sdp: String, fingerprint: String },
    /// The callee does not take the call.
    Decline,
    /// The sender leaves the call (or stops ringing).
    HangUp,
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
        Signal::Decline | Signal::HangUp => Ok(()),
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
        let offer =
            |sdp: String, fingerprint: &str| Signal::Offer { sdp, fingerprint: fingerprint.into(), video: true };
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
                Signal::Answer { sdp: "v=0".into(), fingerprint: "sha-256 AA".into() },
                r#"{"kind":"answer","sdp":"v=0","fingerprint":"sha-256 AA"}"#.to_owned(),
            ),
            (
                Signal::Offer { sdp: "v=0".into(), fingerprint: "sha-256 AA".into(), video: true },
                r#"{"kind":"offer","sdp":"v=0","fingerprint":"sha-256 AA","video":true}"#.to_owned(),
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
