//! Room backups: everything needed to move a room to another server, still encrypted,
//! vouched for by the owner's signature.
//!
//! The server exports a [`RoomBackup`]; the owner's browser checks it, signs the SHA-256
//! of its canonical JSON ([`RoomBackup::canonical_bytes`]) and uploads
//! `{backup, sig}` ([`SignedBackup`]) to the new server, which refuses it unless:
//! the room id derives from the owner key, the owner signature verifies, every message
//! belongs to the room with strictly increasing keys and a valid sender signature, and
//! every wrapped key comes from the owner.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::envelope::StoredMessage;
use crate::error::{ErrorBody, ErrorCode};
use crate::identity::{IdentityKey, PublicKey, Signature};
use crate::ids::RoomId;
use crate::key_wrap::WrappedKey;
use crate::transcript;

/// Value of [`RoomBackup::format`].
pub const BACKUP_FORMAT: &str = "cloakroom-room-backup";
/// Current backup version.
pub const BACKUP_VERSION: u32 = 1;

/// A member as recorded by the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupMember {
    pub key: PublicKey,
    pub status: MemberStatus,
    pub first_joined: u64,
    /// The invite proof the key was admitted with (protocol v2 rooms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<crate::invite::InviteProof>,
}

/// Where a key stands in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Joined while the room was open.
    Member,
    /// Asked to join the locked room; waits for the owner.
    Pending,
    /// Accepted by the owner into the locked room.
    Accepted,
    /// Turned away or removed by the owner.
    Denied,
}

/// The room's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSettings {
    /// A v1 room's plaintext message of the day (empty for v2 rooms: theirs is sealed in
    /// `signed`).
    pub motd: String,
    pub locked: bool,
    pub capacity: u32,
    pub epoch: u32,
    pub created: u64,
    /// The owner-signed state (protocol v2 rooms); the importing server checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<crate::room_state::SignedState>,
    /// The owner's policy on deleted messages (see [`crate::api::OwnerCall::SetKeepDeleted`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_deleted: bool,
}

/// The budget as the source server recorded it (for the record: the new server sets its
/// own budget from the authorisation of the upload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupBudget {
    pub total: u64,
    pub remaining: u64,
}

/// A whole room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomBackup {
    pub format: String,
    pub v: u32,
    pub room: RoomId,
    pub owner: PublicKey,
    pub settings: BackupSettings,
    pub members: Vec<BackupMember>,
    pub wrapped_keys: Vec<WrappedKey>,
    /// Every message, oldest first, exactly as stored (still encrypted).
    pub messages: Vec<StoredMessage>,
    pub budget: BackupBudget,
    /// When the source server exported it, µs since the Unix epoch.
    pub exported_at: u64,
}

/// A backup with the owner's signature, as uploaded to a new server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBackup {
    pub backup: RoomBackup,
    pub sig: Signature,
}

fn refuse(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::BadBackup, message)
}

impl RoomBackup {
    /// The JSON the owner signs (serde's field order is fixed, so this is canonical).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("backups serialise")
    }

    fn transcript(&self) -> Vec<u8> {
        transcript::backup(&self.room, &Sha256::digest(self.canonical_bytes()).into())
    }

    /// This backup without its messages: the head of a paged restore.
    pub fn head(&self) -> RoomBackup {
        RoomBackup { messages: Vec::new(), ..self.clone() }
    }

    /// The owner's signature over this backup.
    pub fn sign(self, owner: &IdentityKey) -> SignedBackup {
        let sig = owner.sign(&self.transcript());
        SignedBackup { backup: self, sig }
    }
}

/// `verify(key, message, sig)`: verifies one ECDSA signature.
pub trait VerifyFn: Fn(&PublicKey, &[u8], &Signature) -> bool {}
impl<F: Fn(&PublicKey, &[u8], &Signature) -> bool> VerifyFn for F {}

/// The checks of a backup's head (everything but its messages and the owner's signature
/// over the whole): format and version, the room id derived from the owner key, every
/// wrapped key from the owner, and the settings matching the owner-signed state.
pub fn check_head(b: &RoomBackup, verify: &impl VerifyFn) -> Result<(), ErrorBody> {
    if b.format != BACKUP_FORMAT || b.v != BACKUP_VERSION {
        return Err(refuse(format!("not a version {BACKUP_VERSION} room backup")));
    }
    if !b.room.is_owned_by(&b.owner) {
        return Err(ErrorBody::new(
            ErrorCode::RoomIdMismatch,
            "the room id is not derived from the backup's owner key",
        ));
    }
    if b.wrapped_keys.iter().any(|w| w.from != b.owner) {
        return Err(refuse("a wrapped key was not made by the owner"));
    }
    if let Some(signed) = &b.settings.signed {
        if !verify(&b.owner, &signed.transcript(), &signed.sig) || signed.check_shape(&b.room).is_err() {
            return Err(refuse("the room state is not signed by the owner"));
        }
        let s = &b.settings;
        if (signed.epoch, signed.locked, signed.capacity) != (s.epoch, s.locked, s.capacity) {
            return Err(refuse("the settings differ from the owner-signed room state"));
        }
    }
    Ok(())
}

/// The checks of one message of `room`'s backup, after `previous` (the message before it):
/// it belongs to the room, its key is after `previous`, and its sender's signature verifies.
pub fn check_message(
    room: &RoomId,
    previous: Option<&crate::ids::MessageKey>,
    m: &StoredMessage,
    verify: &impl VerifyFn,
) -> Result<(), ErrorBody> {
    if m.key.room() != *room || m.env.room != *room {
        return Err(refuse(format!("message {} belongs to another room", m.key)));
    }
    if previous.is_some_and(|p| *p >= m.key) {
        return Err(refuse("message keys must strictly increase"));
    }
    if !verify(&m.env.sender, &m.env.signature_transcript(), &m.env.sig) {
        return Err(refuse(format!("message {} has a bad signature", m.key)));
    }
    Ok(())
}

/// Checks the owner's signature `sig` over a backup whose canonical JSON hashes to
/// `digest` (SHA-256).
pub fn check_owner_signature(
    b: &RoomBackup,
    digest: &[u8; 32],
    sig: &Signature,
    verify: &impl VerifyFn,
) -> Result<(), ErrorBody> {
    if verify(&b.owner, &transcript::backup(&b.room, digest), sig) {
        Ok(())
    } else {
        Err(refuse("the owner's signature over the backup does not verify"))
    }
}

/// The SHA-256 of a backup's canonical JSON ([`RoomBackup::canonical_bytes`]), computed
/// from its head and then its messages one at a time, so a server can check the owner's
/// signature over a backup it never holds whole (a paged restore). The canonical JSON is
/// the head's with each message's JSON, comma-separated, inside `"messages":[` … `]`.
pub struct CanonicalDigest {
    sha: Sha256,
    suffix: Vec<u8>,
    messages: u64,
}

/// Where the messages go in a head's canonical JSON. A JSON string cannot hold an
/// unescaped `"`, so this can only be the `messages` member itself.
const MESSAGES_OPEN: &[u8] = b",\"messages\":[";

impl CanonicalDigest {
    /// Starts with `head`, a backup whose `messages` are left out (empty).
    pub fn start(head: &RoomBackup) -> Result<Self, ErrorBody> {
        if !head.messages.is_empty() {
            return Err(refuse("the head of a paged backup carries no messages"));
        }
        let bytes = head.canonical_bytes();
        let at = bytes.windows(MESSAGES_OPEN.len()).position(|w| w == MESSAGES_OPEN);
        let Some(at) = at else { return Err(refuse("the backup has no messages member")) };
        let split = at + MESSAGES_OPEN.len();
        let mut sha = Sha256::new();
        sha.update(&bytes[..split]);
        Ok(Self { sha, suffix: bytes[split..].to_vec(), messages: 0 })
    }

    /// Adds the next message, as its canonical JSON (`serde_json::to_vec` of it).
    pub fn message(&mut self, canonical: &[u8]) {
        if self.messages > 0 {
            self.sha.update(b",");
        }
        self.sha.update(canonical);
        self.messages += 1;
    }

    /// The digest of the whole.
    pub fn finish(mut self) -> [u8; 32] {
        self.sha.update(&self.suffix);
        self.sha.finalize().into()
    }
}

impl SignedBackup {
    /// Everything a receiving server checks before importing (see the module docs).
    /// `verify(key, message, sig)` verifies one ECDSA signature.
    pub fn validate(&self, verify: impl Fn(&PublicKey, &[u8], &Signature) -> bool) -> Result<(), ErrorBody> {
        let b = &self.backup;
        check_head(b, &verify)?;
        check_owner_signature(b, &Sha256::digest(b.canonical_bytes()).into(), &self.sig, &verify)?;
        let mut previous: Option<&crate::ids::MessageKey> = None;
        for m in &b.messages {
            check_message(&b.room, previous, m, &verify)?;
            previous = Some(&m.key);
        }
        Ok(())
    }
}
