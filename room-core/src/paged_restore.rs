//! Restoring a room in pages, for backups larger than one request may be (Cloudflare takes
//! at most 100 MB per request and a Durable Object has 128 MB of memory; a backup may be
//! 256 MiB). The same checks as a single-request restore, never holding the backup whole:
//!
//! 1. [`begin`]: the head (the backup without its messages), the owner's signature over the
//!    whole and the number of messages. The head is checked (`backup::check_head`,
//!    [`check_bounds`]) and kept in the room's own KV_local under `~restore/…` with the
//!    hash of a stage secret the host drew; whatever an earlier unfinished restore left
//!    there is cleared. The room does not exist yet (no `~meta`), so nothing else sees it.
//! 2. [`add_page`]: messages in order, each checked (room, increasing keys, sender
//!    signature, timestamp bound) and staged as its canonical JSON. A page that was
//!    staged already (a retry after a lost answer) changes nothing.
//! 3. [`verified`]: every message staged, and the owner's signature verifies over the
//!    SHA-256 of the canonical JSON, computed from the head and the staged messages one
//!    page of rows at a time (`backup::CanonicalDigest`).
//! 4. [`install`] (the host pays first, by `funding`'s rule): the messages are written
//!    under their keys in batches (invisible: the room has no `~meta` yet), then one batch
//!    writes the room's records and drops the stage's head. A crash before that last batch
//!    leaves the stage whole: finishing again is safe. The staged copies are removed last.

use protocol::api::{MAX_RESTORE_BYTES, MAX_RESTORE_PAGE_MESSAGES, RestoreBegin, RestorePage, RestoreProgress};
use protocol::backup::{self, CanonicalDigest, RoomBackup, VerifyFn};
use protocol::encoding::{b64, unb64_array};
use protocol::envelope::StoredMessage;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::identity::Signature;
use protocol::ids::{MessageKey, RoomId};
use protocol::limits::KV_LOCAL_MAX_VALUE_BYTES;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::room::{Room, RoomConfig};
use crate::schema;
use crate::storage::{KvStore, ListQuery, WriteBatch, list_all};
use crate::time::UnixMicros;
use crate::transfer::{MAX_BACKUP_CLOCK_SKEW_MICROS, check_bounds};

const HEAD_KEY: &str = "~restore/head";
const STAGED_PREFIX: &str = "~restore/m/";
/// Staged rows read or written per batch.
const ROWS_PER_BATCH: usize = 500;
/// Most messages one paged restore may announce.
pub const MAX_RESTORE_MESSAGES: u64 = 10_000_000;

/// A paged restore in progress, as kept in KV_local.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stage {
    pub head: RoomBackup,
    pub sig: Signature,
    /// Messages announced.
    pub messages: u64,
    /// Messages staged so far.
    pub staged: u64,
    /// Bytes of the staged messages' JSON.
    pub bytes: u64,
    /// The newest staged message key.
    pub last: Option<MessageKey>,
    /// base64url of SHA-256(stage secret).
    check: String,
}

impl Stage {
    pub fn progress(&self) -> RestoreProgress {
        RestoreProgress { staged: self.staged, messages: self.messages }
    }
}

fn staged_key(seq: u64) -> String {
    format!("{STAGED_PREFIX}{seq:012}")
}

fn storage(e: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, format!("cannot keep the restore: {e}"))
}

fn bad(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::BadBackup, message)
}

fn no_stage() -> ErrorBody {
    ErrorBody::new(ErrorCode::Forbidden, "no restore with this stage secret is in progress for this room")
}

fn secret_check(secret: &[u8; 32]) -> String {
    b64(&Sha256::digest(secret))
}

/// Starts a paged restore of `req.head.room` in its (empty) KV_local, with the stage
/// secret `secret` the host drew. The caller checked the authorisation (nothing spent).
pub fn begin(
    kv: &mut dyn KvStore,
    req: &RestoreBegin,
    secret: &[u8; 32],
    now: UnixMicros,
    verify: &impl VerifyFn,
) -> Result<(), ErrorBody> {
    backup::check_head(&req.head, verify)?;
    CanonicalDigest::start(&req.head)?;
    check_bounds(&req.head, now)?;
    if req.messages > MAX_RESTORE_MESSAGES {
        return Err(
            bad(format!("at most {MAX_RESTORE_MESSAGES} messages per restore")).with_limit(MAX_RESTORE_MESSAGES)
        );
    }
    if kv.get(schema::META_KEY).map_err(storage)?.is_some() {
        return Err(ErrorBody::new(ErrorCode::RoomExists, "a room with this id already exists"));
    }
    let mut batch = WriteBatch::default();
    for (key, _) in list_all(kv, "").map_err(storage)? {
        batch.delete(key);
    }
    let stage = Stage {
        head: req.head.clone(),
        sig: req.sig,
        messages: req.messages,
        staged: 0,
        bytes: 0,
        last: None,
        check: secret_check(secret),
    };
    batch.put(HEAD_KEY, schema::encode(&stage)).map_err(storage)?;
    kv.commit(batch).map_err(storage)
}

/// The stage, if `secret` (base64url, from the stage header) is its secret.
fn stage(kv: &dyn KvStore, secret: Option<&str>) -> Result<Stage, ErrorBody> {
    let secret = secret.and_then(|s| unb64_array::<32>(s).ok()).ok_or_else(no_stage)?;
    let raw = kv.get(HEAD_KEY).map_err(storage)?.ok_or_else(no_stage)?;
    let stage: Stage = serde_json::from_slice(&raw).map_err(storage)?;
    let stored = unb64_array::<32>(&stage.check).map_err(storage)?;
    let given: [u8; 32] = Sha256::digest(secret).into();
    if !protocol::object_proofs::same_32(&stored, &given) {
        return Err(no_stage());
    }
    Ok(stage)
}

/// Stages a page of messages (the caller read at most
/// [`protocol::api::MAX_RESTORE_PAGE_BYTES`] of body).
pub fn add_page(
    kv: &mut dyn KvStore,
    room: &RoomId,
    secret: Option<&str>,
    page: &RestorePage,
    now: UnixMicros,
    verify: &impl VerifyFn,
) -> Result<RestoreProgress, ErrorBody> {
    let mut stage = stage(kv, secret)?;
    if page.messages.len() > MAX_RESTORE_PAGE_MESSAGES {
        return Err(ErrorBody::new(
            ErrorCode::MalformedRequest,
            format!("a page holds at most {MAX_RESTORE_PAGE_MESSAGES} messages"),
        )
        .with_limit(MAX_RESTORE_PAGE_MESSAGES as u64));
    }
    if page.from > stage.staged {
        return Err(ErrorBody::new(
            ErrorCode::MalformedRequest,
            format!("pages come in order: the next message is number {}", stage.staged),
        )
        .with_limit(stage.staged));
    }
    // A retried page: what is staged already is skipped.
    let skip = usize::try_from(stage.staged - page.from).unwrap_or(usize::MAX);
    let fresh: &[StoredMessage] = page.messages.get(skip..).unwrap_or(&[]);
    if stage.staged + fresh.len() as u64 > stage.messages {
        return Err(bad(format!("the restore announced {} messages", stage.messages)).with_limit(stage.messages));
    }
    let latest = now.as_micros().saturating_add(MAX_BACKUP_CLOCK_SKEW_MICROS);
    let mut batch = WriteBatch::default();
    for m in fresh {
        backup::check_message(room, stage.last.as_ref(), m, verify)?;
        if m.key.timestamp().0 > latest {
            return Err(bad(format!("message {} is later than this server's clock allows", m.key)).with_limit(latest));
        }
        let bytes = schema::encode(m);
        if bytes.len() > KV_LOCAL_MAX_VALUE_BYTES {
            return Err(bad(format!("message {} is larger than this server stores", m.key))
                .with_limit(KV_LOCAL_MAX_VALUE_BYTES as u64));
        }
        stage.bytes += bytes.len() as u64;
        if stage.bytes > MAX_RESTORE_BYTES {
            return Err(bad(format!("a restore holds at most {MAX_RESTORE_BYTES} bytes of messages"))
                .with_limit(MAX_RESTORE_BYTES));
        }
        batch.put(staged_key(stage.staged), bytes).map_err(storage)?;
        stage.staged += 1;
        stage.last = Some(m.key.clone());
    }
    if !fresh.is_empty() {
        batch.put(HEAD_KEY, schema::encode(&stage)).map_err(storage)?;
        kv.commit(batch).map_err(storage)?;
    }
    Ok(stage.progress())
}

/// Every staged row, a batch at a time.
fn for_each_staged(
    kv: &dyn KvStore,
    mut each: impl FnMut(Vec<(String, Vec<u8>)>) -> Result<(), ErrorBody>,
) -> Result<(), ErrorBody> {
    let mut cursor = None;
    loop {
        let rows = staged_rows(kv, cursor.take())?;
        let full = rows.len() == ROWS_PER_BATCH;
        cursor = rows.last().map(|(k, _)| k.clone());
        each(rows)?;
        if !full {
            return Ok(());
        }
    }
}

/// The stage, once every announced message is staged and the owner's signature verifies
/// over the whole backup.
pub fn verified(kv: &dyn KvStore, secret: Option<&str>, verify: &impl VerifyFn) -> Result<Stage, ErrorBody> {
    let stage = stage(kv, secret)?;
    if stage.staged != stage.messages {
        return Err(
            bad(format!("{} of {} messages are staged", stage.staged, stage.messages)).with_limit(stage.messages)
        );
    }
    let mut digest = CanonicalDigest::start(&stage.head)?;
    let mut counted = 0u64;
    for_each_staged(kv, |rows| {
        for (_, bytes) in rows {
            digest.message(&bytes);
            counted += 1;
        }
        Ok(())
    })?;
    if counted != stage.messages {
        return Err(storage("the staged messages are incomplete"));
    }
    backup::check_owner_signature(&stage.head, &digest.finish(), &stage.sig, verify)?;
    Ok(stage)
}

/// Makes the room from a [`verified`] stage with `budget` bytes (the authorisation was
/// paid), then removes the staged copies.
pub fn install(
    kv: &mut dyn KvStore,
    stage: &Stage,
    budget: u64,
    now: UnixMicros,
    config: &RoomConfig,
) -> Result<(), ErrorBody> {
    let invalid = |e| ErrorBody::new(ErrorCode::BadBackup, format!("cannot store the backup: {e}"));
    let mut cursor = None;
    loop {
        let rows = staged_rows(kv, cursor.take())?;
        let full = rows.len() == ROWS_PER_BATCH;
        cursor = rows.last().map(|(k, _)| k.clone());
        let mut batch = WriteBatch::default();
        for (_, bytes) in rows {
            let m: StoredMessage = serde_json::from_slice(&bytes).map_err(storage)?;
            batch
                .put(schema::cid_key(&m.env.sender, &m.env.cid), m.key.as_str().as_bytes().to_vec())
                .map_err(invalid)?;
            batch.put(m.key.as_str(), bytes).map_err(invalid)?;
        }
        kv.commit(batch).map_err(storage)?;
        if !full {
            break;
        }
    }
    let mut last = Room::import_batch(&stage.head, budget, now, config)?;
    last.delete(HEAD_KEY);
    kv.commit(last).map_err(storage)?;
    // Leftover staged copies are unreachable bytes, never room data: a failure to remove
    // them does not undo the restore.
    while let Ok(rows) = staged_rows(kv, None) {
        let full = rows.len() == ROWS_PER_BATCH;
        let mut batch = WriteBatch::default();
        for (key, _) in rows {
            batch.delete(key);
        }
        if kv.commit(batch).is_err() || !full {
            break;
        }
    }
    Ok(())
}

/// A batch of staged rows after `cursor`.
fn staged_rows(kv: &dyn KvStore, cursor: Option<String>) -> Result<Vec<(String, Vec<u8>)>, ErrorBody> {
    let mut query = ListQuery::forwards(STAGED_PREFIX, ROWS_PER_BATCH);
    query.cursor = cursor;
    kv.list(&query).map_err(storage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryKv;
    use protocol::backup::{BACKUP_FORMAT, BACKUP_VERSION, BackupBudget, BackupSettings, SignedBackup};
    use protocol::content_key::ContentKey;
    use protocol::envelope::{self, Content, MessageBody, SealInput};
    use protocol::identity::{IdentityKey, PublicKey};
    use protocol::ids::{ClientMessageId, Timestamp};

    const NOW_US: u64 = 1_800_000_000_000_000;

    fn verify(key: &PublicKey, message: &[u8], sig: &Signature) -> bool {
        key.verify(message, sig).is_ok()
    }

    fn signed_backup(count: u64) -> (SignedBackup, IdentityKey) {
        let owner = IdentityKey::from_secret_bytes(&[7; 32]).unwrap();
        let room = RoomId::from_owner_key(&owner.public_key());
        let messages = (0..count)
            .map(|i| {
                let body = MessageBody { alias: "o".into(), content: Content::text(format!("message {i}")) };
                let cid = ClientMessageId::parse(&format!("c{i}")).unwrap();
                let env = envelope::seal(
                    &SealInput { room: &room, epoch: 0, cid: &cid, to: None, body: &body },
                    &ContentKey::from_bytes([1; 32]),
                    &owner,
                    [2; 12],
                );
                StoredMessage::new(MessageKey::new(&room, Timestamp(NOW_US - 1000 + i)), env)
            })
            .collect();
        let backup = RoomBackup {
            format: BACKUP_FORMAT.into(),
            v: BACKUP_VERSION,
            room,
            owner: owner.public_key(),
            settings: BackupSettings {
                motd: String::new(),
                locked: false,
                capacity: 50,
                epoch: 0,
                created: 1,
                signed: None,
                keep_deleted: false,
            },
            members: vec![],
            wrapped_keys: vec![],
            messages,
            budget: BackupBudget { total: 1, remaining: 1 },
            exported_at: NOW_US,
        };
        (backup.sign(&owner), owner)
    }

    fn begin_request(signed: &SignedBackup) -> RestoreBegin {
        RestoreBegin {
            auth: protocol::api::CreateAuthorization::AdminSecret { secret: "s".into() },
            head: signed.backup.head(),
            sig: signed.sig,
            messages: signed.backup.messages.len() as u64,
        }
    }

    fn page(signed: &SignedBackup, from: usize, len: usize) -> RestorePage {
        let end = (from + len).min(signed.backup.messages.len());
        RestorePage { from: from as u64, messages: signed.backup.messages[from..end].to_vec() }
    }

    const NOW: UnixMicros = UnixMicros(NOW_US);

    #[test]
    fn the_digest_of_head_and_pages_is_the_digest_of_the_whole() {
        for count in [0, 1, 5] {
            let (signed, _) = signed_backup(count);
            let mut digest = CanonicalDigest::start(&signed.backup.head()).unwrap();
            for m in &signed.backup.messages {
                digest.message(&schema::encode(m));
            }
            let whole: [u8; 32] = Sha256::digest(signed.backup.canonical_bytes()).into();
            assert_eq!(digest.finish(), whole, "{count} messages");
        }
    }

    #[test]
    fn a_paged_restore_makes_the_same_room_as_a_single_request() {
        let (signed, _) = signed_backup(1_203);
        let room = signed.backup.room.clone();
        let secret = [9; 32];
        let given = b64(&secret);
        let mut kv = MemoryKv::default();
        begin(&mut kv, &begin_request(&signed), &secret, NOW, &verify).unwrap();
        let mut from = 0;
        while from < 1_203 {
            let progress = add_page(&mut kv, &room, Some(&given), &page(&signed, from, 400), NOW, &verify).unwrap();
            assert_eq!(progress.messages, 1_203);
            // The same page again (a lost answer) changes nothing.
            assert_eq!(
                add_page(&mut kv, &room, Some(&given), &page(&signed, from, 400), NOW, &verify).unwrap(),
                progress
            );
            from = progress.staged as usize;
        }
        let stage = verified(&kv, Some(&given), &verify).unwrap();
        install(&mut kv, &stage, 1 << 30, NOW, &RoomConfig::default()).unwrap();

        let mut single = MemoryKv::default();
        let batch = Room::import_batch(&signed.backup, 1 << 30, NOW, &RoomConfig::default()).unwrap();
        single.commit(batch).unwrap();
        assert_eq!(list_all(&kv, "").unwrap(), list_all(&single, "").unwrap(), "the same records, no stage left");
        assert!(Room::load(room, &kv, RoomConfig::default()).unwrap().is_some());
    }

    #[test]
    fn pages_out_of_order_foreign_or_forged_change_nothing() {
        let (signed, _) = signed_backup(6);
        let room = signed.backup.room.clone();
        let secret = [9; 32];
        let given = b64(&secret);
        let mut kv = MemoryKv::default();
        begin(&mut kv, &begin_request(&signed), &secret, NOW, &verify).unwrap();
        let snapshot = |kv: &MemoryKv| list_all(kv, "").unwrap();
        let before = snapshot(&kv);
        let code = |r: Result<RestoreProgress, ErrorBody>| r.unwrap_err().code;
        assert_eq!(code(add_page(&mut kv, &room, None, &page(&signed, 0, 2), NOW, &verify)), ErrorCode::Forbidden);
        let wrong = b64(&[8; 32]);
        assert_eq!(
            code(add_page(&mut kv, &room, Some(&wrong), &page(&signed, 0, 2), NOW, &verify)),
            ErrorCode::Forbidden
        );
        let gap = add_page(&mut kv, &room, Some(&given), &page(&signed, 1, 2), NOW, &verify).unwrap_err();
        assert_eq!((gap.code, gap.limit), (ErrorCode::MalformedRequest, Some(0)));
        let mut forged = page(&signed, 0, 3);
        forged.messages[2].env.ct.0[0] ^= 1;
        assert_eq!(code(add_page(&mut kv, &room, Some(&given), &forged, NOW, &verify)), ErrorCode::BadBackup);
        let mut swapped = page(&signed, 0, 3);
        swapped.messages.swap(0, 1);
        assert_eq!(code(add_page(&mut kv, &room, Some(&given), &swapped, NOW, &verify)), ErrorCode::BadBackup);
        let mut crowded = page(&signed, 0, 6);
        crowded.messages = vec![signed.backup.messages[0].clone(); MAX_RESTORE_PAGE_MESSAGES + 1];
        let e = add_page(&mut kv, &room, Some(&given), &crowded, NOW, &verify).unwrap_err();
        assert_eq!((e.code, e.limit), (ErrorCode::MalformedRequest, Some(MAX_RESTORE_PAGE_MESSAGES as u64)));
        // A message larger than KV_local stores.
        let mut large = page(&signed, 0, 1);
        let owner = IdentityKey::from_secret_bytes(&[7; 32]).unwrap();
        let body = MessageBody { alias: "o".into(), content: Content::text("y".repeat(KV_LOCAL_MAX_VALUE_BYTES)) };
        let cid = ClientMessageId::parse("big").unwrap();
        large.messages[0].env = envelope::seal(
            &SealInput { room: &room, epoch: 0, cid: &cid, to: None, body: &body },
            &ContentKey::from_bytes([1; 32]),
            &owner,
            [2; 12],
        );
        let e = add_page(&mut kv, &room, Some(&given), &large, NOW, &verify).unwrap_err();
        assert_eq!((e.code, e.limit), (ErrorCode::BadBackup, Some(KV_LOCAL_MAX_VALUE_BYTES as u64)));
        assert_eq!(snapshot(&kv), before, "a refused page stages nothing");
        let early = verified(&kv, Some(&given), &verify).unwrap_err();
        assert_eq!((early.code, early.limit), (ErrorCode::BadBackup, Some(6)), "finishing needs every message");
        // More than announced is refused.
        add_page(&mut kv, &room, Some(&given), &page(&signed, 0, 6), NOW, &verify).unwrap();
        let mut extra = page(&signed, 5, 1);
        extra.from = 6;
        extra.messages[0].key = MessageKey::new(&room, Timestamp(NOW_US));
        assert_eq!(code(add_page(&mut kv, &room, Some(&given), &extra, NOW, &verify)), ErrorCode::BadBackup);
        assert!(verified(&kv, Some(&given), &verify).is_ok());
    }

    #[test]
    fn a_head_that_is_not_the_signed_backup_fails_at_the_end() {
        let (signed, _) = signed_backup(3);
        let room = signed.backup.room.clone();
        let secret = [9; 32];
        let given = b64(&secret);
        let mut kv = MemoryKv::default();
        let mut request = begin_request(&signed);
        request.head.settings.capacity = 10;
        begin(&mut kv, &request, &secret, NOW, &verify).unwrap();
        add_page(&mut kv, &room, Some(&given), &page(&signed, 0, 3), NOW, &verify).unwrap();
        let refused = verified(&kv, Some(&given), &verify).unwrap_err();
        assert_eq!(refused.code, ErrorCode::BadBackup, "{refused:?}");
        // A head with messages, or announcing too many, is refused at once.
        let mut whole = begin_request(&signed);
        whole.head = signed.backup.clone();
        assert_eq!(begin(&mut kv, &whole, &secret, NOW, &verify).unwrap_err().code, ErrorCode::BadBackup);
        let mut many = begin_request(&signed);
        many.messages = MAX_RESTORE_MESSAGES + 1;
        let e = begin(&mut kv, &many, &secret, NOW, &verify).unwrap_err();
        assert_eq!((e.code, e.limit), (ErrorCode::BadBackup, Some(MAX_RESTORE_MESSAGES)));
        // An existing room is never overwritten.
        let stage = {
            begin(&mut kv, &begin_request(&signed), &secret, NOW, &verify).unwrap();
            add_page(&mut kv, &room, Some(&given), &page(&signed, 0, 3), NOW, &verify).unwrap();
            verified(&kv, Some(&given), &verify).unwrap()
        };
        install(&mut kv, &stage, 1, NOW, &RoomConfig::default()).unwrap();
        assert_eq!(
            begin(&mut kv, &begin_request(&signed), &secret, NOW, &verify).unwrap_err().code,
            ErrorCode::RoomExists
        );
    }
}
