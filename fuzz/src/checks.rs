//! The bodies of the fuzz targets over `protocol`: one `check_*` function per target, each
//! taking raw outside bytes, running the parser a peer would run on them and asserting the
//! invariants listed in docs/SECURITY.md ("Fuzzing"). A panic is a finding.
//!
//! This file is compiled twice, literally the same source: by the libFuzzer targets in
//! `fuzz/` (through `fuzz/src/lib.rs`) and by the smoke test `protocol/tests/fuzz_smoke.rs`
//! (through `#[path]`), so the smoke run in the normal test suite exercises exactly what
//! the fuzzer does. It only uses `protocol`'s public API and crates `protocol` depends on.

use std::cell::Cell;
use std::fmt::Debug;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use protocol::api::{
    BudgetView, CreateAuthorization, CreateRoomRequest, CreateRoomResponse, HistoryPage, InfoResponse, IssuedToken,
    LastMessageTimesRequest, LastMessageTimesResponse, MembersView, OwnerCall, RestoreRequest, RoomSettings,
};
use protocol::backup::{BACKUP_FORMAT, BACKUP_VERSION, SignedBackup};
use protocol::content_key::ContentKey;
use protocol::encoding::{b64, is_b64url_alphabet};
use protocol::envelope::{self, Content, Envelope, OpenError, StoredMessage};
use protocol::error::ErrorCode;
use protocol::frames::{ClientFrame, ServerFrame};
use protocol::identity::{IdentityKey, PublicKey, Signature};
use protocol::key_wrap;
use protocol::keys_file::{self, CipherParams, KdfParams, KeysBundle, KeysFile, KeysFileError};
use protocol::objects::{self, FileHandle, Manifest, UploadRequest, UploadState};
use protocol::signed_request::{
    HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_CLOCK_SKEW_MS, RequestAuth, RequestTarget,
};
use protocol::storage_token;

use crate::seeds;

/// Serialises a parsed value, parses it back and checks nothing changed and that the
/// serialised form is stable (what a server stores and re-sends is what it accepted).
fn round_trip<T>(value: &T) -> String
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let text = serde_json::to_string(value).expect("a parsed value serialises");
    let back: T =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("the serialised form does not parse back ({e}): {text}"));
    assert_eq!(&back, value, "parse → serialise → parse changed the value");
    assert_eq!(serde_json::to_string(&back).expect("serialises"), text, "serialisation is not stable");
    text
}

/// Public keys and signatures on the wire have exactly one encoding.
fn check_key(key: &PublicKey) {
    let text = key.to_b64();
    assert_eq!(text.len(), 87);
    assert_eq!(PublicKey::parse(&text).as_ref(), Ok(key));
}

fn check_sig(sig: &Signature) {
    assert_eq!(Signature::parse(&sig.to_b64()).as_ref(), Ok(sig));
}

/// Invariants of any envelope that parsed (no key needed).
fn check_envelope_shape(env: &Envelope) {
    check_key(&env.sender);
    if let Some(to) = &env.to {
        check_key(to);
    }
    check_sig(&env.sig);
    // The signed transcript ends with the length-prefixed ciphertext.
    let t = env.signature_transcript();
    let mut tail = (env.ct.0.len() as u32).to_be_bytes().to_vec();
    tail.extend_from_slice(&env.ct.0);
    assert!(t.ends_with(&tail), "the transcript does not end with the ciphertext");
    assert!(env.aad().len() < t.len());
    // The stored form is the envelope with a fixed-width key around it.
    let stored = env.stored_len();
    let env_len = serde_json::to_vec(env).expect("serialises").len();
    assert!(stored > env_len && stored <= env_len + 80, "stored length {stored} for a {env_len}-byte envelope");
}

/// The identity and content key a client under test holds (from `vectors/v1.json`).
fn client_identity() -> IdentityKey {
    IdentityKey::from_secret_b64(seeds::MEMBER_SECRET).expect("vector secret")
}

fn client_content_key() -> ContentKey {
    ContentKey::parse(seeds::CONTENT_KEY).expect("vector key")
}

/// What a client does with a message it receives: verify, decrypt, parse.
fn open_as_client(env: &Envelope, key: &ContentKey) {
    match envelope::open(env, key) {
        Ok(body) => {
            assert!(env.verify_signature().is_ok(), "opened a message whose signature does not verify");
            assert_eq!(envelope::decrypt(env, key).as_ref(), Ok(&body));
            assert!(envelope::nonce_of(env).is_ok());
            round_trip(&body);
        }
        Err(OpenError::UnsupportedVersion(v)) => assert_ne!(v, protocol::ENVELOPE_VERSION),
        Err(OpenError::BadSignature) => assert!(env.verify_signature().is_err()),
        Err(OpenError::DecryptFailed | OpenError::BadBody) => assert!(env.verify_signature().is_ok()),
    }
}

/// WebSocket frames a client sends, as the server's JSON parser sees them.
pub fn check_client_frame(data: &[u8]) {
    let Ok(frame) = serde_json::from_slice::<ClientFrame>(data) else { return };
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(serde_json::from_str::<ClientFrame>(text).as_ref().ok(), Some(&frame), "from_str ≠ from_slice");
    }
    let text = round_trip(&frame);
    let value: Value = serde_json::from_str(&text).expect("JSON");
    match &frame {
        ClientFrame::Hello { key, sig, .. } => {
            assert_eq!(value["t"], "hello");
            check_key(key);
            check_sig(sig);
        }
        ClientFrame::Send { env } => {
            assert_eq!(value["t"], "send");
            check_envelope_shape(env);
        }
        ClientFrame::Ephemeral { env } => {
            assert_eq!(value["t"], "ephemeral");
            check_envelope_shape(env);
        }
        ClientFrame::Erase { key } => {
            assert_eq!(value["t"], "erase");
            assert_eq!(value["key"], key.as_str());
        }
    }
}

/// Frames the server sends, and what a client does with them: unwrap the keys wrapped to
/// it, open the messages.
pub fn check_server_frame(data: &[u8]) {
    let Ok(frame) = serde_json::from_slice::<ServerFrame>(data) else { return };
    round_trip(&frame);
    let me = client_identity();
    let content_key = client_content_key();
    let state = match &frame {
        ServerFrame::Welcome { state, keys, you, .. } => {
            check_key(you);
            Some((state, keys))
        }
        ServerFrame::Room { state, keys, .. } => Some((state, keys)),
        _ => None,
    };
    if let Some((state, keys)) = state {
        let _ = state.room.is_owned_by(&state.owner);
        // The client guard decides what of it to trust: it never hands out a key that was
        // not wrapped by an owner key deriving the room id, nor replaces a held one.
        let held = std::collections::BTreeMap::from([(0, content_key.clone())]);
        let mut guard = protocol::room_guard::RoomGuard::new(state.room.clone(), 0);
        let checked = guard.check(&me, state, keys, &held);
        for (epoch, _) in &checked.new_keys {
            assert!(state.room.is_owned_by(&state.owner), "a key from a room whose owner does not match");
            assert_ne!(*epoch, 0, "a held key was replaced");
            assert!(keys.iter().any(|w| w.epoch == *epoch && w.from == state.owner), "a key the owner did not wrap");
        }
        if let Some(signed) = guard.state() {
            assert!(signed.verify(&state.room, &state.owner).is_ok(), "an unverified state was trusted");
        }
        for w in keys {
            if let Ok(k) = key_wrap::unwrap(&me, w, &state.room) {
                assert_eq!(w.to, me.public_key(), "unwrapped a key wrapped to someone else");
                assert_eq!(ContentKey::parse(&k.to_b64()).as_ref().map(ContentKey::as_bytes), Ok(k.as_bytes()));
            }
        }
    }
    let messages: &[StoredMessage] = match &frame {
        ServerFrame::Backlog { messages, .. } => messages,
        ServerFrame::Msg { m } => std::slice::from_ref(m),
        _ => &[],
    };
    for m in messages {
        let _ = (m.key.room(), m.key.timestamp());
        check_envelope_shape(&m.env);
        open_as_client(&m.env, &content_key);
    }
    if let ServerFrame::Ephemeral { env } = &frame {
        check_envelope_shape(env);
        open_as_client(env, &content_key);
    }
}

/// A bare envelope or a stored message (history pages, backups): parse, shape, open.
pub fn check_envelope(data: &[u8]) {
    let key = client_content_key();
    if let Ok(env) = serde_json::from_slice::<Envelope>(data) {
        round_trip(&env);
        check_envelope_shape(&env);
        open_as_client(&env, &key);
    }
    if let Ok(m) = serde_json::from_slice::<StoredMessage>(data) {
        round_trip(&m);
        assert_eq!(m.encoded_len(), serde_json::to_vec(&m).expect("serialises").len());
        open_as_client(&m.env, &key);
    }
}

/// A decrypted message body (what another member chose to encrypt).
pub fn check_message_body(data: &[u8]) {
    let Ok(body) = envelope::body_of(data) else { return };
    let text = round_trip(&body);
    // Padding with spaces (as sealing does) does not change what it says.
    let mut padded = text.into_bytes();
    padded.resize(padded.len().div_ceil(envelope::PAD_BLOCK) * envelope::PAD_BLOCK, b' ');
    assert_eq!(envelope::body_of(&padded).as_ref(), Ok(&body));
    let handles: Vec<&FileHandle> = match &body.content {
        Content::File { file } => vec![file],
        Content::Image { full, preview, .. } => std::iter::once(full).chain(preview.as_ref()).collect(),
        Content::Text { .. }
        | Content::Edit { .. }
        | Content::Delete { .. }
        | Content::Reaction { .. }
        | Content::Typing { .. }
        | Content::Seen { .. }
        | Content::CallEnded { .. }
        | Content::Joined
        | Content::Left
        | Content::Accepted { .. }
        | Content::Removed { .. }
        | Content::Unsupported => vec![],
        Content::CallSignal { call, signal } => {
            // The receiver's check answers for any signal without panicking, and the
            // fingerprint of any SDP is found or not, never wrongly.
            let _ = protocol::call::check(call, signal);
            if let protocol::call::Signal::Offer { sdp, .. } | protocol::call::Signal::Answer { sdp, .. } = signal {
                let _ = protocol::call::fingerprint(sdp);
            }
            vec![]
        }
    };
    for h in handles {
        check_file_handle(h, &[]);
    }
    // A reference names the same message once written as a client id, and the action
    // rule answers for any sender without panicking.
    if let Some(target) = protocol::actions::target_of(&body.content) {
        assert_eq!(protocol::actions::MessageRef::from_id(&target.id()).as_ref(), Some(target));
        let _ = protocol::actions::check(&target.sender, Some(&target.sender), false, &body.content);
        let _ = protocol::actions::check(&target.sender, None, true, &body.content);
    }
}

/// Splits `data` into `n` parts at `sep` (missing parts are empty).
fn parts(data: &[u8], sep: u8, n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == sep).collect();
    out.resize(n, &[]);
    out
}

/// The four signed-request headers (byte 0 says which are present, the rest are the values
/// separated by newlines), then the request they sign (method, path, query, body).
pub fn check_signed_request(data: &[u8]) {
    let Some((&mask, rest)) = data.split_first() else { return };
    let fields = parts(rest, b'\n', 9);
    let text: Vec<String> = fields.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let names = [HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE];
    let header = |name: &str| {
        let i = names.iter().position(|n| *n == name)?;
        (mask & (1 << i) != 0).then(|| text[i].clone())
    };
    let present = (mask & 0x0f).count_ones();
    match RequestAuth::from_headers(header) {
        Ok(None) => assert_eq!(present, 0),
        Err(e) => {
            assert_eq!(e.code, ErrorCode::Unauthorized);
            assert!(present > 0);
        }
        Ok(Some(auth)) => {
            assert_eq!(present, 4);
            assert!((16..=64).contains(&auth.nonce.len()) && is_b64url_alphabet(&auth.nonce));
            assert_eq!(auth.nonce, text[2]);
            assert_eq!(auth.key.to_b64(), text[0], "a key header has one encoding");
            assert_eq!(auth.sig.to_b64(), text[3], "a signature header has one encoding");
            assert_eq!(text[1].parse::<u64>().ok(), Some(auth.timestamp_ms));
            let headers = auth.headers();
            let again = RequestAuth::from_headers(|h| headers.iter().find(|(n, _)| *n == h).map(|(_, v)| v.clone()));
            assert_eq!(again, Ok(Some(auth.clone())));
            let target = RequestTarget::new(&text[4], &text[5], &text[6], fields[7]);
            assert_eq!(target.body_sha256, <[u8; 32]>::from(Sha256::digest(fields[7])));
            let transcript = auth.transcript(&target);
            let _ = auth.key.verify(&transcript, &auth.sig);
            let now = u64::from_le_bytes(seeds::pad8(fields[8]));
            assert_eq!(auth.check_freshness(now).is_ok(), auth.timestamp_ms.abs_diff(now) <= MAX_CLOCK_SKEW_MS);
            // Field boundaries are part of the transcript: moving one byte from the path
            // to the method signs something else.
            if let Some((first, path)) = text[5].split_at_checked(1) {
                let moved = RequestTarget::new(&format!("{}{first}", text[4]), path, &text[6], fields[7]);
                assert_ne!(auth.transcript(&moved), transcript, "transcripts of different requests collide");
            }
        }
    }
}

/// Owner calls: `(name, method, serde tag)`, the table mock-server's router uses.
pub use protocol::api::OWNER_CALLS;

/// Byte 0 picks the owner call; the rest is its JSON body, read as the server reads it
/// ([`OwnerCall::from_request`]).
pub fn check_owner_call(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else { return };
    let (name, method, tag) = OWNER_CALLS[usize::from(pick) % OWNER_CALLS.len()];
    let Ok(call) = OwnerCall::from_request(method, name, body) else { return };
    round_trip(&call);
    assert_eq!((call.name(), call.method()), (name, method), "the body decoded as another call");
    let tagged = serde_json::to_value(&call).expect("serialises");
    assert_eq!(tagged["call"], Value::from(tag), "the call's tag is its row's");
    let again = OwnerCall::from_request(method, name, &call.body());
    assert_eq!(again.as_ref(), Ok(&call), "the call's own body decodes differently");
    let wrapped = match &call {
        OwnerCall::Lock { keys, .. } | OwnerCall::Rekey(protocol::api::Rekey { keys, .. }) => keys.iter().collect(),
        OwnerCall::PutState { state } | OwnerCall::Unlock { state } => {
            check_key(&state.invite);
            Vec::new()
        }
        OwnerCall::Remove { rekey: Some(r), .. } => r.keys.iter().collect(),
        OwnerCall::Accept { key, wrapped } => {
            check_key(key);
            vec![wrapped]
        }
        _ => Vec::new(),
    };
    for w in wrapped {
        check_key(&w.from);
        check_key(&w.to);
    }
}

fn parse_round_trip<T>(data: &[u8]) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let value = serde_json::from_slice::<T>(data).ok()?;
    round_trip(&value);
    Some(value)
}

/// The other HTTP bodies: requests the server parses, answers a client parses. Byte 0
/// picks the type.
pub fn check_api_body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else { return };
    match pick % 11 {
        0 => {
            if let Some(r) = parse_round_trip::<CreateRoomRequest>(body) {
                let _ = r.room.is_owned_by(&r.owner);
                check_auth(&r.auth);
            }
        }
        1 => {
            if let Some(r) = parse_round_trip::<RestoreRequest>(body) {
                check_auth(&r.auth);
            }
        }
        2 => {
            let _ = parse_round_trip::<LastMessageTimesRequest>(body);
        }
        3 => {
            let _ = parse_round_trip::<InfoResponse>(body);
        }
        4 => {
            let _ = parse_round_trip::<CreateRoomResponse>(body);
        }
        5 => {
            let _ = parse_round_trip::<RoomSettings>(body);
        }
        6 => {
            let _ = parse_round_trip::<MembersView>(body);
        }
        7 => {
            let _ = parse_round_trip::<BudgetView>(body);
        }
        8 => {
            if let Some(t) = parse_round_trip::<IssuedToken>(body) {
                let _ = storage_token::parse_token(&t.token);
                let _ = storage_token::round_size(t.size);
            }
        }
        9 => {
            if let Some(page) = parse_round_trip::<HistoryPage>(body) {
                for m in &page.messages {
                    check_envelope_shape(&m.env);
                }
            }
        }
        _ => {
            if let Some(r) = parse_round_trip::<LastMessageTimesResponse>(body) {
                for (room, key) in &r.rooms {
                    let _ = key.as_ref().map(|k| k.room() == *room);
                }
            }
        }
    }
}

fn check_auth(auth: &CreateAuthorization) {
    if let CreateAuthorization::StorageToken { token } = auth
        && let Ok(t) = storage_token::parse_token(token)
    {
        assert_eq!(b64(&t), *token, "a token has one encoding");
        assert!(!storage_token::token_hash(&t).is_empty());
    }
}

/// A signed room backup (and the restore request carrying one): parse, then every check
/// a receiving server makes, with real signatures and with a verifier that accepts
/// everything (to reach the checks behind the owner's signature).
pub fn check_backup(data: &[u8]) {
    if let Ok(r) = serde_json::from_slice::<RestoreRequest>(data) {
        round_trip(&r);
        validate_backup(&r.backup);
    }
    if let Ok(b) = serde_json::from_slice::<SignedBackup>(data) {
        let text = round_trip(&b);
        // What the owner signed is what the new server re-derives after parsing.
        let back: SignedBackup = serde_json::from_str(&text).expect("parses");
        assert_eq!(back.backup.canonical_bytes(), b.backup.canonical_bytes());
        validate_backup(&b);
    }
}

fn validate_backup(b: &SignedBackup) {
    let calls = Cell::new(0usize);
    let trusting = b.validate(|_, _, _| {
        calls.set(calls.get() + 1);
        true
    });
    let real = b.validate(|k, m, s| k.verify(m, s).is_ok());
    let backup = &b.backup;
    if real.is_ok() {
        assert!(trusting.is_ok(), "real signatures pass but a trusting verifier refuses");
    }
    match trusting {
        Ok(()) => {
            assert_eq!(calls.get(), 1 + backup.messages.len(), "not every signature was checked");
            assert!(backup.format == BACKUP_FORMAT && backup.v == BACKUP_VERSION);
            assert!(backup.room.is_owned_by(&backup.owner));
            assert!(backup.messages.windows(2).all(|w| w[0].key < w[1].key));
            assert!(backup.messages.iter().all(|m| m.key.room() == backup.room && m.env.room == backup.room));
            assert!(backup.wrapped_keys.iter().all(|w| w.from == backup.owner));
        }
        Err(e) => {
            assert!(matches!(e.code, ErrorCode::BadBackup | ErrorCode::RoomIdMismatch));
            assert!(real.is_err());
        }
    }
}

/// The passphrase of the seed files (and of the KDF vector).
pub const KEYS_PASSPHRASE: &str = "correct horse battery staple";

/// The documented checksum (docs/PROTOCOL.md, `keys_file` module docs): SHA-256 over the
/// compact JSON of `[format, v, kdf, cipher]` followed by the ciphertext, base64url.
pub fn documented_check(kdf: &KdfParams, cipher: &CipherParams, ct: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&(keys_file::FORMAT, keys_file::VERSION, kdf, cipher)).expect("serialises"));
    h.update(ct);
    b64(&h.finalize())
}

/// The file key for the seed files, derived once (PBKDF2 at the lowest allowed count).
fn seed_file_key() -> [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| keys_file::derive_file_key(KEYS_PASSPHRASE, &seeds::keys_salt(), keys_file::MIN_ITERATIONS))
}

/// What `parse` must accept once the checksum matches.
fn params_valid(file: &KeysFile) -> bool {
    file.format == keys_file::FORMAT
        && file.v == keys_file::VERSION
        && file.kdf.alg == "PBKDF2-HMAC-SHA256"
        && file.cipher.alg == "AES-256-GCM"
        && (keys_file::MIN_ITERATIONS..=keys_file::MAX_ITERATIONS).contains(&file.kdf.iterations)
        && file.kdf.salt.0.len() >= 16
        && file.cipher.iv.0.len() == 12
}

/// The keys export file: parse and validate; for what parses, a decrypt attempt with the
/// fixed passphrase (its PBKDF2 runs once, at the lowest allowed count, and is cached:
/// files asking for other parameters get a decrypt attempt with that key, which must not
/// open them); the same structure with its checksum repaired, to reach the checks behind
/// it; and `data` itself as the encrypted bundle.
pub fn check_keys_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match keys_file::parse(text) {
        Ok(file) => {
            round_trip(&file);
            assert!(params_valid(&file), "parse accepted unsafe or unknown parameters");
            assert_eq!(
                file.check,
                documented_check(&file.kdf, &file.cipher, &file.ct.0),
                "check ≠ its documented form"
            );
            try_open(&file);
        }
        Err(KeysFileError::UnsupportedVersion(v)) => {
            assert_ne!(v, u64::from(keys_file::VERSION), "refused the supported version as unsupported");
        }
        Err(KeysFileError::Corrupt(_)) => {}
        Err(KeysFileError::WrongPassphrase) => panic!("parse does not know the passphrase"),
    }
    // The same structure with a matching checksum: accepted exactly when valid.
    if let Ok(mut file) = serde_json::from_str::<KeysFile>(text) {
        file.check = documented_check(&file.kdf, &file.cipher, &file.ct.0);
        let repaired = serde_json::to_string(&file).expect("serialises");
        match keys_file::parse(&repaired) {
            Ok(parsed) => {
                assert!(params_valid(&file), "parse accepted {repaired}");
                assert_eq!(parsed, file);
                try_open(&parsed);
            }
            Err(KeysFileError::UnsupportedVersion(v)) => assert_ne!(v, u64::from(keys_file::VERSION)),
            Err(e) => assert!(!params_valid(&file), "parse refused a valid file ({e}): {repaired}"),
        }
    }
    // `data` as the plaintext of a file sealed with the seed key: `open` yields exactly
    // what the bundle parser makes of it.
    let kdf = KdfParams {
        alg: "PBKDF2-HMAC-SHA256".into(),
        iterations: keys_file::MIN_ITERATIONS,
        salt: envelope::B64Bytes(seeds::keys_salt().to_vec()),
    };
    let iv = [7u8; 12];
    let cipher = CipherParams { alg: "AES-256-GCM".into(), iv: envelope::B64Bytes(iv.to_vec()) };
    let header = serde_json::to_vec(&(keys_file::FORMAT, keys_file::VERSION, &kdf, &cipher)).expect("serialises");
    let ct = Aes256Gcm::new_from_slice(&seed_file_key())
        .expect("32-byte key")
        .encrypt(&Nonce::from(iv), Payload { msg: data, aad: &header })
        .expect("AES-GCM");
    let check = documented_check(&kdf, &cipher, &ct);
    let file = KeysFile {
        format: keys_file::FORMAT.into(),
        v: keys_file::VERSION,
        kdf,
        cipher,
        ct: envelope::B64Bytes(ct),
        check,
    };
    let parsed = keys_file::parse(&serde_json::to_string(&file).expect("serialises")).expect("a sealed file parses");
    let opened = keys_file::open(&parsed, &seed_file_key());
    match serde_json::from_slice::<KeysBundle>(data) {
        Ok(bundle) => assert_eq!(opened, Ok(bundle)),
        Err(_) => assert!(matches!(opened, Err(KeysFileError::Corrupt(_))), "{opened:?}"),
    }
}

/// A decrypt attempt with the fixed passphrase, and a re-seal of what opens.
fn try_open(file: &KeysFile) {
    let key = seed_file_key();
    let ours = file.kdf.iterations == keys_file::MIN_ITERATIONS && file.kdf.salt.0 == seeds::keys_salt();
    match keys_file::open(file, &key) {
        Ok(bundle) => {
            assert!(ours, "a file with other KDF parameters opened with the seed key");
            round_trip(&bundle);
            let iv: [u8; 12] = file.cipher.iv.0.as_slice().try_into().expect("parse checked the iv");
            let salt: [u8; 16] = seeds::keys_salt();
            let resealed = keys_file::seal(&bundle, &key, salt, file.kdf.iterations, iv);
            let text = serde_json::to_string(&resealed).expect("serialises");
            let back = keys_file::parse(&text).expect("a re-sealed file parses");
            assert_eq!(keys_file::open(&back, &key), Ok(bundle));
        }
        Err(KeysFileError::WrongPassphrase | KeysFileError::Corrupt(_)) => {}
        Err(KeysFileError::UnsupportedVersion(_)) => panic!("open does not read the version"),
    }
}

/// Upload and download bodies (byte 0 picks the type), then the size arithmetic a server
/// or client applies to them.
pub fn check_objects(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else { return };
    match pick % 5 {
        0 => {
            if let Some(r) = parse_round_trip::<UploadRequest>(body) {
                let _ = objects::valid_file_id(&r.file);
                check_padded(r.size);
                if let Some(t) = &r.token {
                    let _ = storage_token::parse_token(t);
                }
            }
        }
        1 => {
            // What a client does with the server's answer: count what is left to send.
            if let Some(s) = parse_round_trip::<UploadState>(body)
                && is_bucket(s.size)
            {
                let count = objects::chunk_count(s.size);
                for i in s.missing.iter().filter(|i| **i < count) {
                    assert!(objects::chunk_len(s.size, *i) <= objects::CHUNK_BYTES);
                }
            }
        }
        2 => {
            if let Some(m) = parse_round_trip::<Manifest>(body) {
                check_padded(m.size);
                // A download of what the manifest lists, with made-up chunks.
                let keys = objects::derive(&[9; 32]);
                let chunks: Vec<Vec<u8>> = m.chunks.iter().map(|c| c.as_bytes().to_vec()).collect();
                if !is_bucket(m.size) || m.size <= 1 << 20 {
                    assert!(objects::decrypt_file(&keys, m.size, &chunks).is_err());
                }
            }
        }
        3 => {
            if let Some(h) = parse_round_trip::<FileHandle>(body) {
                check_file_handle(&h, body);
            }
        }
        _ => {
            let n = |i: usize| u64::from_le_bytes(seeds::pad8(body.get(i * 8..).unwrap_or_default()));
            check_padded(n(0));
            check_padded(n(0) % (objects::MAX_FILE_BYTES * 2));
            if let Some(p) = objects::padded_size(n(1) % (objects::MAX_FILE_BYTES + 2)) {
                check_padded(p);
            }
            let last8 = body.get(..8).unwrap_or(body);
            if let Some(len) = objects::unpadded_len(last8, n(1)) {
                assert_eq!(objects::padded_size(len), Some(n(1)), "a trailer of {len} accepted for {}", n(1));
            }
        }
    }
}

/// True when `size` is a padded size (the server's check on upload requests).
fn is_bucket(size: u64) -> bool {
    objects::is_padded_size(size)
}

/// The size arithmetic on an outside `padded` size (or length).
fn check_padded(n: u64) {
    if let Some(p) = objects::padded_size(n) {
        assert!(p >= n + 8 && p >= objects::MIN_PADDED_BYTES);
        assert!(is_bucket(p), "{p} is not a bucket");
        let trailer = objects::padding_range(n, p, p - 8, p);
        assert_eq!(objects::unpadded_len(&trailer, p), Some(n));
    }
    if is_bucket(n) {
        let count = objects::chunk_count(n);
        assert!(count >= 1);
        let total: u64 = (0..count).map(|i| objects::chunk_len(n, i)).sum();
        assert_eq!(total, n);
        assert_eq!(objects::stored_size(n), n + u64::from(count) * objects::TAG_BYTES);
    }
}

fn check_file_handle(h: &FileHandle, ciphertext: &[u8]) {
    let Some(keys) = h.keys() else { return };
    assert_eq!(keys.key.to_b64(), h.key);
    if is_bucket(h.padded) {
        let count = objects::chunk_count(h.padded);
        assert!(objects::decrypt_chunk(&keys, 0, count, ciphertext).is_err());
        let _ = objects::unpadded_len(&ciphertext[..ciphertext.len().min(8)], h.padded);
    }
}

/// SSO documents from outside: a key set (checked against the root key, as a worker and
/// a browser do), a token (checked against a key set, as a worker does), a pending token
/// a tab kept. Byte 0 picks.
pub fn check_sso(data: &[u8]) {
    use protocol::sso::{MAX_KEYSET_KEYS, PendingToken, SavedPending, SsoKeyset, SsoToken};
    let Some((&pick, body)) = data.split_first() else { return };
    match pick % 3 {
        0 => {
            if let Ok(set) = SsoKeyset::parse_verified(body, &seeds::sso_root().public_key()) {
                assert!(set.keys.len() <= MAX_KEYSET_KEYS);
                round_trip(&set);
                let _ = set.current_key(1);
            }
        }
        1 => {
            if let Some(token) = parse_round_trip::<SsoToken>(body) {
                let (set, _) = seeds::sso_fixture();
                match token.verify(&set, 2) {
                    Ok(key) => {
                        assert_eq!(key.key_id, token.key_id);
                        assert!(token.spent_id().is_ok(), "a valid token has a spent id");
                    }
                    Err(e) => assert!(matches!(
                        e.code,
                        ErrorCode::MalformedRequest | ErrorCode::TokenUnknown | ErrorCode::TokenExpired
                    )),
                }
            }
        }
        _ => {
            if let Some(saved) = parse_round_trip::<SavedPending>(body) {
                let (set, issuer) = seeds::sso_fixture();
                if let Ok(pending) = PendingToken::restore(&saved)
                    && let Ok(sig) = issuer.blind_sign(&pending.blinded())
                {
                    let _ = pending.finish(&set.keys[0], &sig);
                }
            }
        }
    }
}
