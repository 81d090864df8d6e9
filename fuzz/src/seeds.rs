//! Seed inputs for every fuzz target, generated from the shared test vectors
//! (`protocol/vectors/v1.json`) so that no corpus needs to be committed.
//!
//! `cargo run -p cloakroom-protocol --example fuzz_seeds` writes them to
//! `fuzz/corpus/<target>/`; the smoke test (`protocol/tests/fuzz_smoke.rs`) uses them in
//! memory. Compiled by both, like `checks.rs`.

use protocol::api::{
    BudgetView, CreateAuthorization, CreateRoomRequest, CreateRoomResponse, HistoryPage, InfoResponse, IssuedToken,
    LastMessageTimesRequest, LastMessageTimesResponse, MemberView, MembersView, OwnerCall, Rekey, RestoreRequest,
    RoomSettings,
};
use protocol::backup::{
    BACKUP_FORMAT, BACKUP_VERSION, BackupBudget, BackupMember, BackupSettings, MemberStatus, RoomBackup,
};
use protocol::encoding::b64;
use protocol::envelope::{B64Bytes, Content, MessageBody, StoredMessage};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::frames::{Access, ClientFrame, RoomState, ServerFrame};
use protocol::identity::IdentityKey;
use protocol::ids::{ClientMessageId, MessageKey, Timestamp};
use protocol::limits::Limits;
use protocol::objects::{self, FileHandle, Manifest, UploadRequest, UploadState, UploadStatus};
use protocol::room_state::SignedState;
use protocol::signed_request::{RequestAuth, RequestTarget};
use protocol::vectors::{self, Vectors};

/// An owner-signed state from the v2 vectors (the one with a sealed message of the day).
pub fn signed_state() -> SignedState {
    protocol::vectors_v2::load().states[1].state.clone()
}

/// The member whose keys the client-side checks hold (the wrap vector's member).
pub const MEMBER_SECRET: &str = "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI";
/// The content key of the epoch-0 message vectors.
pub const CONTENT_KEY: &str = "MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM";

/// The salt of the KDF vector (16 bytes of 0x99).
pub fn keys_salt() -> [u8; 16] {
    [0x99; 16]
}

/// The first 8 bytes of `bytes`, zero-padded.
pub fn pad8(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    let n = bytes.len().min(8);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// Every target, with its seeds.
pub const TARGETS: [&str; 12] = [
    "client_frame",
    "inbound",
    "server_frame",
    "envelope",
    "message_body",
    "signed_request",
    "owner_call",
    "api_body",
    "backup",
    "keys_file",
    "objects",
    "sso",
];

fn json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("seeds serialise")
}

fn tagged(tag: u8, value: &impl serde::Serialize) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(json(value));
    out
}

fn stored(v: &Vectors) -> Vec<StoredMessage> {
    v.messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            StoredMessage::new(
                MessageKey::new(&m.envelope.room, Timestamp(1_700_000_000_000_000 + i as u64)),
                m.envelope.clone(),
            )
        })
        .collect()
}

fn file_handle() -> FileHandle {
    let (keys, padded, _) = objects::encrypt_file(b"a small shared file").expect("small");
    FileHandle {
        file_id: keys.file_id.clone(),
        key: keys.key.to_b64(),
        read: Some(b64(&[3; 32])),
        verification: None,
        size: 19,
        padded,
        name: "notes.txt".into(),
        mime: "text/plain".into(),
    }
}

fn backup(v: &Vectors) -> protocol::backup::SignedBackup {
    let owner = IdentityKey::from_secret_b64(&v.messages[0].owner_secret).expect("vector secret");
    let room = v.messages[0].envelope.room.clone();
    let member = IdentityKey::from_secret_b64(MEMBER_SECRET).expect("vector secret").public_key();
    RoomBackup {
        format: BACKUP_FORMAT.into(),
        v: BACKUP_VERSION,
        room,
        owner: owner.public_key(),
        settings: BackupSettings {
            motd: "welcome".into(),
            locked: true,
            capacity: 50,
            epoch: 2,
            created: 1,
            signed: None,
            keep_deleted: false,
        },
        members: vec![BackupMember { key: member, status: MemberStatus::Accepted, first_joined: 2, invite: None }],
        wrapped_keys: v.wraps.iter().map(|w| w.wrapped.clone()).collect(),
        messages: stored(v),
        budget: BackupBudget { total: 1 << 25, remaining: 1 << 24 },
        exported_at: 1_700_000_000_000_000,
    }
    .sign(&owner)
}

/// The seeds of `target` (an element of [`TARGETS`]).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let v = vectors::load();
    let join = &v.joins[0];
    let env = v.messages[0].envelope.clone();
    let room = env.room.clone();
    let owner = env.sender;
    let wrapped = v.wraps[0].wrapped.clone();
    let messages = stored(&v);
    let state = RoomState {
        room: room.clone(),
        owner,
        locked: false,
        capacity: 50,
        epoch: 0,
        guest: Some(join.public_key),
        latest: Some(messages[2].key.clone()),
        signed: None,
        keep_deleted: false,
    };
    match target {
        "client_frame" | "inbound" => {
            let mut out: Vec<Vec<u8>> =
                v.messages.iter().map(|m| json(&ClientFrame::Send { env: m.envelope.clone() })).collect();
            out.push(json(&ClientFrame::Hello { v: 2, key: join.public_key, sig: join.signature, invite: None }));
            let invite = Some(protocol::vectors_v2::load().invites[0].proof.clone());
            out.push(json(&ClientFrame::Hello { v: 2, key: join.public_key, sig: join.signature, invite }));
            out.push(json(&ClientFrame::Erase { key: messages[0].key.clone() }));
            out
        }
        "server_frame" => vec![
            json(&ServerFrame::Challenge { v: 2, room: room.clone(), nonce: B64Bytes(vec![0x88; 32]) }),
            json(&ServerFrame::Erased { key: messages[0].key.clone() }),
            json(&ServerFrame::Welcome {
                state: state.clone(),
                you: join.public_key,
                is_owner: false,
                access: Access::Member,
                keys: vec![wrapped.clone()],
                limits: Limits::default(),
            }),
            json(&ServerFrame::Room { state: state.clone(), access: Access::Accepted, keys: vec![wrapped.clone()] }),
            json(&ServerFrame::Room {
                state: RoomState { signed: Some(signed_state()), ..state },
                access: Access::Accepted,
                keys: vec![wrapped.clone()],
            }),
            json(&ServerFrame::Backlog { messages: messages.clone(), more: true }),
            json(&ServerFrame::JoinRequest { key: join.public_key }),
            json(&ServerFrame::Ack { cid: env.cid.clone(), key: messages[0].key.clone() }),
            json(&ServerFrame::Msg { m: messages[1].clone() }),
            json(&ServerFrame::Error {
                error: ErrorBody::new(ErrorCode::RateLimited, "slow down").with_limit(10),
                cid: Some(ClientMessageId::parse("c1").expect("valid")),
            }),
        ],
        "envelope" => {
            let mut out: Vec<Vec<u8>> = v.messages.iter().map(|m| json(&m.envelope)).collect();
            out.extend(messages.iter().map(json));
            out
        }
        "message_body" => {
            let mut out: Vec<Vec<u8>> = v.messages.iter().map(|m| json(&m.body)).collect();
            let full = file_handle();
            out.push(json(&MessageBody { alias: "Ann".into(), content: Content::File { file: full.clone() } }));
            out.push(json(&MessageBody {
                alias: "Ann".into(),
                content: Content::Image {
                    full: full.clone(),
                    preview: Some(full),
                    thumbnail: "data:image/jpeg;base64,AAAA".into(),
                    width: 640,
                    height: 480,
                },
            }));
            out.push(br#"{"alias":"x","content":{"type":"hologram"}}"#.to_vec());
            out
        }
        "signed_request" => {
            let id = IdentityKey::from_secret_b64(&v.messages[0].owner_secret).expect("vector secret");
            let body = br#"{"allowance":1024}"#;
            let path = format!("/api/rooms/{room}/owner/allowance");
            let target = RequestTarget::new("PUT", &path, "", body);
            let auth = RequestAuth::sign(&id, &target, 1_700_000_000_000, [5; 16]);
            let mut out = Vec::new();
            for mask in [0x0f, 0x07, 0x00] {
                let mut s = vec![mask];
                for (_, value) in auth.headers() {
                    s.extend(value.as_bytes());
                    s.push(b'\n');
                }
                s.extend(format!("put\n{path}\n\n").as_bytes());
                s.extend(body);
                s.push(b'\n');
                s.extend(1_700_000_030_000u64.to_le_bytes());
                out.push(s);
            }
            out
        }
        "owner_call" => {
            let key = join.public_key;
            let state = signed_state();
            let rekey = Rekey { epoch: 2, keys: vec![wrapped.clone()], state: state.clone() };
            let calls = [
                OwnerCall::Settings,
                OwnerCall::Members,
                OwnerCall::Budget,
                OwnerCall::Backup,
                OwnerCall::PutState { state: state.clone() },
                OwnerCall::SetAllowance { allowance: 100 << 20 },
                OwnerCall::Lock { epoch: 2, keys: vec![wrapped.clone()], state: state.clone() },
                OwnerCall::Unlock { state },
                OwnerCall::Accept { key, wrapped: wrapped.clone() },
                OwnerCall::Deny { key },
                OwnerCall::Remove { key, rekey: Some(rekey.clone()) },
                OwnerCall::Rekey(rekey),
                OwnerCall::IssueToken { size: 1 << 20 },
            ];
            calls
                .iter()
                .enumerate()
                .map(|(i, call)| {
                    let mut value = serde_json::to_value(call).expect("serialises");
                    value.as_object_mut().expect("object").remove("call");
                    tagged(i as u8, &value)
                })
                .collect()
        }
        "api_body" => {
            let token = CreateAuthorization::StorageToken { token: b64(&[1; 32]) };
            let signed = backup(&v);
            vec![
                tagged(0, &CreateRoomRequest { room: room.clone(), owner, auth: token.clone(), state: signed_state() }),
                tagged(
                    0,
                    &CreateRoomRequest {
                        room: room.clone(),
                        owner,
                        auth: CreateAuthorization::AdminSecret { secret: "s3cret".into() },
                        state: signed_state(),
                    },
                ),
                tagged(1, &RestoreRequest { backup: signed, auth: token }),
                tagged(2, &LastMessageTimesRequest { rooms: vec![room.clone()] }),
                tagged(
                    3,
                    &InfoResponse {
                        name: "mock".into(),
                        version: "0.1.0".into(),
                        protocol: protocol::PROTOCOL_VERSION,
                        limits: Limits::default(),
                        sso: None,
                        calls: Default::default(),
                    },
                ),
                tagged(4, &CreateRoomResponse { room: room.clone(), capacity: 50, budget: 1 << 25 }),
                tagged(
                    5,
                    &RoomSettings {
                        locked: true,
                        capacity: 12,
                        epoch: 2,
                        signed: Some(signed_state()),
                        allowance: 1 << 20,
                        keep_deleted: false,
                    },
                ),
                tagged(
                    6,
                    &MembersView {
                        members: vec![MemberView {
                            key: owner,
                            status: MemberStatus::Member,
                            first_joined: 5,
                            online: true,
                            invite: Some(protocol::vectors_v2::load().invites[0].proof.clone()),
                            spent: 1 << 20,
                        }],
                    },
                ),
                tagged(7, &BudgetView { total: 100, remaining: 50, tokens_issued: 2, message_bytes: 20 }),
                tagged(8, &IssuedToken { token: b64(&[2; 32]), size: 1 << 20, remaining: 1 << 24 }),
                tagged(9, &HistoryPage { messages: messages.clone(), more: false }),
                tagged(
                    10,
                    &LastMessageTimesResponse {
                        rooms: [(room.clone(), Some(messages[0].key.clone()))].into_iter().collect(),
                    },
                ),
            ]
        }
        "backup" => {
            let signed = backup(&v);
            assert!(signed.validate(|k, m, s| k.verify(m, s).is_ok()).is_ok(), "the seed backup is valid");
            let restore = RestoreRequest {
                backup: signed.clone(),
                auth: CreateAuthorization::StorageToken { token: b64(&[1; 32]) },
            };
            vec![json(&signed), json(&restore)]
        }
        "keys_file" => {
            let kdf = &v.kdfs[0];
            assert_eq!(kdf.file.kdf.salt.0, keys_salt(), "the KDF vector's salt");
            let key = protocol::encoding::unb64_array::<32>(&kdf.key).expect("vector key");
            let empty = protocol::keys_file::seal(&Default::default(), &key, keys_salt(), kdf.iterations, [1; 12]);
            vec![json(&kdf.file), json(&empty), json(&kdf.bundle)]
        }
        "objects" => {
            let h = file_handle();
            let (keys, padded, chunks) = objects::encrypt_file(b"a small shared file").expect("small");
            vec![
                tagged(
                    0,
                    &UploadRequest {
                        file: keys.file_id.clone(),
                        size: padded,
                        read_check: Some(b64(&[5; 32])),
                        put_check: Some(b64(&[6; 32])),
                        token: Some(b64(&[4; 32])),
                    },
                ),
                tagged(
                    1,
                    &UploadState {
                        file: keys.file_id.clone(),
                        size: padded,
                        chunks: 1,
                        status: UploadStatus::Open,
                        missing: vec![0],
                        stored: vec![None],
                        payer: false,
                    },
                ),
                tagged(
                    2,
                    &Manifest {
                        file: keys.file_id.clone(),
                        size: padded,
                        chunks: chunks.iter().map(|c| objects::chunk_id(c)).collect(),
                    },
                ),
                tagged(3, &h),
                [&[4u8][..], &objects::padding_range(19, padded, padded - 8, padded), &padded.to_le_bytes()].concat(),
            ]
        }
        "sso" => {
            let (set, issuer) = sso_fixture();
            let pending = protocol::sso::PendingToken::blind(&set.keys[0], [5; 32]).expect("blind");
            let token =
                pending.finish(&set.keys[0], &issuer.blind_sign(&pending.blinded()).expect("sign")).expect("finish");
            vec![tagged(0, &set), tagged(1, &token), tagged(2, &pending.save())]
        }
        other => panic!("no fuzz target named {other}"),
    }
}

/// The root key of the SSO fixtures ([`sso_fixture`]).
pub fn sso_root() -> IdentityKey {
    IdentityKey::from_secret_bytes(&[7; 32]).expect("a valid scalar")
}

/// A key set signed by [`sso_root`] with the test issuance key, and that key.
pub fn sso_fixture() -> (protocol::sso::SsoKeyset, protocol::sso::IssuerKey) {
    use protocol::sso::{Denomination, DenominationKind, IssuerKey, SsoKeyset};
    let issuer = IssuerKey::from_pem(include_str!("../../protocol/src/sso/test-issuer.pem")).expect("test key");
    let key = issuer
        .describe(Denomination { kind: DenominationKind::Room, bytes: 1 << 30 }, 0, u64::MAX, 10)
        .expect("describe");
    (SsoKeyset::sign(&sso_root(), vec![key], 1), issuer)
}
