//! Tests of the SSO token format: issuance round trip, key set signatures, windows,
//! refusals at and past each limit.

use super::*;

const DAY: u64 = 86_400_000;
const NOW: u64 = 1_800_000_000_000;

fn issuer() -> IssuerKey {
    IssuerKey::from_pem(include_str!("test-issuer.pem")).unwrap()
}

fn stranger() -> IssuerKey {
    IssuerKey::from_pem(include_str!("test-stranger.pem")).unwrap()
}

fn root() -> IdentityKey {
    IdentityKey::from_secret_bytes(&[7; 32]).unwrap()
}

fn room(bytes: u64) -> Denomination {
    Denomination { kind: DenominationKind::Room, bytes }
}

fn key_of(issuer: &IssuerKey) -> SsoKey {
    issuer.describe(room(1 << 30), NOW - DAY, NOW + 30 * DAY, 500).unwrap()
}

fn keyset() -> SsoKeyset {
    SsoKeyset::sign(&root(), vec![key_of(&issuer())], NOW)
}

fn issue(issuer: &IssuerKey, key: &SsoKey, nonce: u8) -> SsoToken {
    let pending = PendingToken::blind(key, [nonce; 32]).unwrap();
    let blind_sig = issuer.blind_sign(&pending.blinded()).unwrap();
    pending.finish(key, &blind_sig).unwrap()
}

#[test]
fn a_blind_signed_token_verifies_and_the_signer_never_saw_it() {
    let set = keyset();
    let key = &set.keys[0];
    let pending = PendingToken::blind(key, [1; 32]).unwrap();
    let blinded = unb64(&pending.blinded()).unwrap();
    assert_eq!(blinded.len(), SIGNATURE_BYTES);
    // What the SSO sees holds neither the nonce nor the signed input.
    let input = token_input(&unb64_array::<32>(&key.key_id).unwrap(), &[1; 32]);
    assert!(!blinded.windows(32).any(|w| w == [1; 32]));
    assert!(!blinded.windows(input.len()).any(|w| w == input.as_slice()));
    let token = pending.finish(key, &issuer().blind_sign(&pending.blinded()).unwrap()).unwrap();
    assert_eq!(token.verify(&set, NOW).unwrap().key_id, key.key_id);
    // The signature is not the blind one: the SSO cannot recognise it when it is spent.
    assert_ne!(unb64(&token.sig).unwrap(), unb64(&issuer().blind_sign(&pending.blinded()).unwrap()).unwrap());
    // Two tokens have different spent ids.
    let other = issue(&issuer(), key, 2);
    assert_ne!(token.spent_id().unwrap(), other.spent_id().unwrap());
    assert_eq!(token.spent_id().unwrap(), b64(&Sha256::digest(&input)));
}

#[test]
fn a_signature_by_any_other_key_is_refused_at_every_step() {
    let set = keyset();
    let key = &set.keys[0];
    // An SSO that signs with a key outside the set: the browser notices at once. (A
    // blinded message at or above the other key's modulus cannot be signed by it at all:
    // try nonces until one can.)
    let (pending, wrong) = (0..64u8)
        .find_map(|n| {
            let pending = PendingToken::blind(key, [n; 32]).unwrap();
            stranger().blind_sign(&pending.blinded()).ok().map(|sig| (pending, sig))
        })
        .unwrap();
    assert_eq!(pending.finish(key, &wrong).unwrap_err(), SsoError::BadIssuance);
    // A token for a key outside the set: unknown at the worker.
    let outside = key_of(&stranger());
    let token = issue(&stranger(), &outside, 4);
    assert_eq!(token.verify(&set, NOW).unwrap_err().code, ErrorCode::TokenUnknown);
    // A token whose nonce was changed after signing: unknown (the same answer).
    let mut forged = issue(&issuer(), key, 5);
    forged.nonce = b64(&[6; 32]);
    assert_eq!(forged.verify(&set, NOW).unwrap_err().code, ErrorCode::TokenUnknown);
    let mut forged = issue(&issuer(), key, 5);
    forged.randomizer = b64(&[0; 32]);
    assert_eq!(forged.verify(&set, NOW).unwrap_err().code, ErrorCode::TokenUnknown);
}

#[test]
fn a_token_is_spendable_only_inside_its_keys_window() {
    let set = keyset();
    let key = &set.keys[0];
    let token = issue(&issuer(), key, 7);
    assert!(token.verify(&set, key.not_before).is_ok());
    assert!(token.verify(&set, key.not_after - 1).is_ok());
    assert_eq!(token.verify(&set, key.not_after).unwrap_err().code, ErrorCode::TokenExpired);
    assert_eq!(token.verify(&set, key.not_before - 1).unwrap_err().code, ErrorCode::TokenExpired);
    // Revoked = no longer listed.
    let revoked = SsoKeyset::sign(&root(), vec![], NOW + 1);
    assert_eq!(token.verify(&revoked, NOW).unwrap_err().code, ErrorCode::TokenUnknown);
}

#[test]
fn malformed_tokens_get_a_typed_refusal() {
    let set = keyset();
    let good = issue(&issuer(), &set.keys[0], 8);
    for bad in [
        SsoToken { nonce: b64(&[1; 31]), ..good.clone() },
        SsoToken { key_id: "!!".into(), ..good.clone() },
        SsoToken { randomizer: b64(&[1; 33]), ..good.clone() },
        SsoToken { sig: b64(&[1; SIGNATURE_BYTES - 1]), ..good.clone() },
        SsoToken { sig: b64(&[1; SIGNATURE_BYTES + 1]), ..good.clone() },
    ] {
        assert_eq!(bad.verify(&set, NOW).unwrap_err().code, ErrorCode::MalformedRequest, "{bad:?}");
    }
    let json = serde_json::to_string(&good).unwrap();
    assert!(serde_json::from_str::<SsoToken>(&json.replace("\"sig\"", "\"extra\":1,\"sig\"")).is_err());
    assert!(issuer().blind_sign(&b64(&[1; SIGNATURE_BYTES - 1])).is_err());
    assert!(issuer().blind_sign(&b64(&[1; SIGNATURE_BYTES + 1])).is_err());
}

#[test]
fn a_key_set_holds_only_with_the_roots_signature_and_well_formed_keys() {
    let set = keyset();
    let bytes = serde_json::to_vec(&set).unwrap();
    assert_eq!(SsoKeyset::parse_verified(&bytes, &root().public_key()).unwrap(), set);
    let other_root = IdentityKey::from_secret_bytes(&[8; 32]).unwrap().public_key();
    assert_eq!(SsoKeyset::parse_verified(&bytes, &other_root).unwrap_err(), SsoError::KeysetSignature);
    // Any change after signing breaks it: a longer cap, a later expiry, a key added.
    let mut raised = set.clone();
    raised.keys[0].max_redemptions += 1;
    assert_eq!(raised.verify(&root().public_key()).unwrap_err(), SsoError::KeysetSignature);
    let mut added = set.clone();
    added.keys.push(key_of(&stranger()));
    assert_eq!(added.verify(&root().public_key()).unwrap_err(), SsoError::KeysetSignature);
    // Signed, but not well formed: refused as well.
    let mut wrong_id = key_of(&stranger());
    wrong_id.key_id = key_of(&issuer()).key_id;
    let twice = SsoKeyset::sign(&root(), vec![key_of(&issuer()), key_of(&issuer())], NOW);
    let empty_window = SsoKeyset::sign(&root(), vec![SsoKey { not_after: NOW - DAY, ..key_of(&issuer()) }], NOW);
    let small = SsoKeyset::sign(&root(), vec![SsoKey { denomination: room(1), ..key_of(&issuer()) }], NOW);
    let alg = SsoKeyset::sign(&root(), vec![SsoKey { alg: "RSABSSA-SHA256".into(), ..key_of(&issuer()) }], NOW);
    for bad in [SsoKeyset::sign(&root(), vec![wrong_id], NOW), twice, empty_window, small, alg] {
        assert!(matches!(bad.verify(&root().public_key()), Err(SsoError::BadKeyset(_))), "{bad:?}");
    }
    // At and past the size limits.
    let full = SsoKeyset::sign(&root(), vec![key_of(&issuer()); MAX_KEYSET_KEYS + 1], NOW);
    assert!(matches!(full.verify(&root().public_key()), Err(SsoError::BadKeyset(m)) if m.contains("more than")));
    let huge = vec![b' '; MAX_KEYSET_BYTES + 1];
    assert!(matches!(SsoKeyset::parse_verified(&huge, &root().public_key()), Err(SsoError::BadKeyset(_))));
}

#[test]
fn the_current_key_is_the_newest_valid_room_key() {
    let old = issuer().describe(room(1 << 30), NOW - 30 * DAY, NOW + DAY, 5).unwrap();
    let new = stranger().describe(room(1 << 30), NOW - DAY, NOW + 30 * DAY, 5).unwrap();
    let future = SsoKey { not_before: NOW + DAY, not_after: NOW + 60 * DAY, ..key_of(&issuer()) };
    let set = SsoKeyset::sign(&root(), vec![old.clone(), new.clone()], NOW);
    assert_eq!(set.current_key(NOW).unwrap().key_id, new.key_id);
    assert_eq!(set.current_key(NOW + 31 * DAY), None);
    let set = SsoKeyset::sign(&root(), vec![old.clone(), SsoKey { key_id: new.key_id.clone(), ..future }], NOW);
    assert_eq!(set.current_key(NOW).unwrap().key_id, old.key_id);
}

#[test]
fn a_pending_token_survives_the_trip_to_the_sso_in_its_saved_form() {
    let set = keyset();
    let key = &set.keys[0];
    let pending = PendingToken::blind(key, [9; 32]).unwrap();
    let saved: SavedPending = serde_json::from_str(&serde_json::to_string(&pending.save()).unwrap()).unwrap();
    let restored = PendingToken::restore(&saved).unwrap();
    assert_eq!(restored.blinded(), pending.blinded());
    let token = restored.finish(key, &issuer().blind_sign(&pending.blinded()).unwrap()).unwrap();
    assert!(token.verify(&set, NOW).is_ok());
    assert!(PendingToken::restore(&SavedPending { nonce: "x".into(), ..saved }).is_err());
}

/// RFC 9474 Appendix A's RSABSSA-SHA384-PSS-Randomized vector: the finalised signature
/// comes out of the blind signature and the inverse, and verifies, with the same code the
/// tokens use (`rfc9474-a1.json`, from the RFC as shipped in the crate's tests).
#[test]
fn the_rfc_9474_vector_finalises_and_verifies() {
    use blind_rsa_signatures::reexports::crypto_bigint::BoxedUint;
    use blind_rsa_signatures::reexports::rsa::RsaPublicKey;
    let v: serde_json::Value = serde_json::from_str(include_str!("rfc9474-a1.json")).unwrap();
    assert_eq!(v["name"], TOKEN_ALG);
    let hex = |k: &str| hex::decode(v[k].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let uint = |k: &str| {
        let bytes = hex(k);
        BoxedUint::from_be_slice(&bytes, (bytes.len() * 8) as u32).unwrap()
    };
    let public = IssuerPublic::new(RsaPublicKey::new(uint("n"), uint("e")).unwrap());
    let randomizer = MessageRandomizer(hex("msg_prefix").try_into().unwrap());
    let blinding = BlindingResult {
        blind_message: blind_rsa_signatures::BlindMessage(hex("blinded_msg")),
        secret: Secret(hex("inv")),
        msg_randomizer: Some(randomizer),
    };
    let sig = public.finalize(&BlindSignature(hex("blind_sig")), &blinding, hex("msg")).unwrap();
    assert_eq!(sig.0, hex("sig"));
    public.verify(&sig, Some(randomizer), hex("msg")).unwrap();
    let mut wrong = hex("msg");
    wrong[0] ^= 1;
    assert!(public.verify(&sig, Some(randomizer), wrong).is_err());
}
