//! The fuzz target over room-core's inbound path ([`room_core::inbound::prepare`], the
//! state-independent checks of a client frame: size, shape, version, signature). Shared by
//! the libFuzzer target `inbound` and `room-core/tests/fuzz_smoke.rs`.

use protocol::ENVELOPE_VERSION;
use protocol::error::ErrorCode;
use protocol::frames::ClientFrame;
use protocol::identity::{PublicKey, Signature};
use protocol::limits::Limits;
use room_core::inbound::{Inbound, PortableVerifier, Verifier, prepare};

/// Accepts every signature: reaches the paths behind the signature check.
struct Trusting;

impl Verifier for Trusting {
    fn verify(&self, _: &PublicKey, _: &[u8], _: &Signature) -> bool {
        true
    }
}

/// A client frame as the server receives it, with real signatures, then with a trusting
/// verifier and small limits (so the size checks are reached by small inputs).
pub fn check_inbound(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = serde_json::from_str::<ClientFrame>(text);
    let limits = Limits::default();
    let small = Limits { max_frame_bytes: 2048, max_message_bytes: 1024, ..Limits::default() };
    for (limits, verifier) in [(&limits, &PortableVerifier as &dyn Verifier), (&small, &Trusting)] {
        // Before the `hello`, a `send` (or an `erase`) is refused without being verified.
        if let (Ok(ClientFrame::Send { .. } | ClientFrame::Erase { .. }), true) =
            (&parsed, text.len() as u64 <= limits.max_frame_bytes)
        {
            let early = prepare(text, limits, verifier, false);
            assert!(matches!(&early, Inbound::Refused(e) if e.code == ErrorCode::NotJoined), "{early:?}");
        }
        let got = prepare(text, limits, verifier, true);
        if text.len() as u64 > limits.max_frame_bytes {
            assert!(matches!(&got, Inbound::Refused(e) if e.code == ErrorCode::FrameTooLarge), "{got:?}");
            continue;
        }
        match (&parsed, &got) {
            (Err(_), Inbound::Refused(e)) => assert_eq!(e.code, ErrorCode::MalformedFrame),
            (
                Ok(ClientFrame::Hello { v, key, sig, invite }),
                Inbound::Hello { v: v2, key: k2, sig: s2, invite: i2 },
            ) => {
                assert_eq!((v, key, sig, invite.as_ref()), (v2, k2, s2, i2.as_deref()));
            }
            (Ok(ClientFrame::Send { env }), Inbound::Send(accepted)) => {
                assert_eq!(**accepted, *env);
                assert_eq!(env.v, ENVELOPE_VERSION);
                assert!(env.iv.0.len() == 12 && env.ct.0.len() >= 16);
                assert!(env.stored_len() as u64 <= limits.max_message_bytes, "an oversized message passed");
                assert!(verifier.verify(&env.sender, &env.signature_transcript(), &env.sig));
            }
            (Ok(ClientFrame::Send { env }), Inbound::RefusedMessage(e, cid)) => match e.code {
                _ if *cid != env.cid => panic!("the refusal names another message"),
                ErrorCode::UnsupportedVersion => assert_ne!(env.v, ENVELOPE_VERSION),
                ErrorCode::MalformedFrame => assert!(env.iv.0.len() != 12 || env.ct.0.len() < 16),
                ErrorCode::MessageTooLarge => assert!(env.stored_len() as u64 > limits.max_message_bytes),
                ErrorCode::BadSignature => {
                    assert!(!verifier.verify(&env.sender, &env.signature_transcript(), &env.sig));
                }
                other => panic!("unexpected refusal {other:?}"),
            },
            (Ok(ClientFrame::Erase { key }), Inbound::Erase(asked)) => assert_eq!(key, asked),
            (parsed, got) => panic!("prepare disagrees with the parser: {parsed:?} → {got:?}"),
        }
    }
}
