//! From stored envelopes to what the UI shows: signatures checked and bodies decrypted
//! with WebCrypto (a page at a time, concurrently; pure Rust if WebCrypto fails), with the
//! key of their epoch or, for whispers, the pair key of the two ends. A bad signature or a body that does not
//! decrypt is marked tampered, never shown as valid; a message this browser has no key for
//! is marked sealed.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use protocol::content_key::ContentKey;
use protocol::envelope::{Envelope, MessageBody, StoredMessage};
use protocol::identity::{IdentityKey, PublicKey};
use protocol::ids::RoomId;
use protocol::whisper;

use crate::crypto::{self, webcrypto};
use crate::session::timeline::{BodyParts, ChatMessage, Delivery, Trust, Whisper};

/// The keys a room's messages are read with.
pub struct Keyring {
    pub room: RoomId,
    pub identity: IdentityKey,
    pub me: PublicKey,
    /// Content keys by epoch.
    pub keys: RefCell<BTreeMap<u32, ContentKey>>,
    /// Whisper pair keys by the other end's public key (ECDH is cached, not redone).
    pair_keys: RefCell<HashMap<String, ContentKey>>,
    /// Every key above imported into WebCrypto once.
    web_keys: RefCell<HashMap<[u8; 32], web_sys::CryptoKey>>,
}

/// Who the room's owner and verified guest are, for the colour cues.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    pub owner: Option<PublicKey>,
    pub guest: Option<PublicKey>,
}

/// The id the timeline knows a message by.
pub fn message_id(sender: &PublicKey, cid: &str) -> String {
    format!("{sender}/{cid}")
}

impl Keyring {
    pub fn new(room: RoomId, identity: IdentityKey, keys: BTreeMap<u32, ContentKey>) -> Self {
        let me = identity.public_key();
        Self {
            room,
            identity,
            me,
            keys: RefCell::new(keys),
            pair_keys: RefCell::default(),
            web_keys: RefCell::default(),
        }
    }

    /// The whisper key shared with `peer`.
    pub fn pair_key(&self, peer: &PublicKey) -> ContentKey {
        let id = peer.to_b64();
        if let Some(k) = self.pair_keys.borrow().get(&id) {
            return k.clone();
        }
        let key = whisper::pair_key(&self.identity, peer, &self.room);
        self.pair_keys.borrow_mut().insert(id, key.clone());
        key
    }

    /// The key that opens `m`, or why there is none.
    fn key_for(&self, env: &Envelope) -> Result<ContentKey, String> {
        match &env.to {
            Some(to) if env.sender == self.me => Ok(self.pair_key(to)),
            Some(_) if env.to.as_ref() == Some(&self.me) => Ok(self.pair_key(&env.sender)),
            Some(_) => Err("a whisper between two other members".into()),
            None => self
                .keys
                .borrow()
                .get(&env.epoch)
                .cloned()
                .ok_or_else(|| format!("sent under key epoch {}, which this browser does not hold", env.epoch)),
        }
    }

    /// `key` as a WebCrypto key, imported once.
    async fn web_key(&self, key: &ContentKey) -> Result<web_sys::CryptoKey, webcrypto::WebCryptoError> {
        if let Some(k) = self.web_keys.borrow().get(key.as_bytes()) {
            return Ok(k.clone());
        }
        let imported = webcrypto::aes_key(key.as_bytes()).await?;
        self.web_keys.borrow_mut().insert(*key.as_bytes(), imported.clone());
        Ok(imported)
    }

    /// Decrypts `m`'s body with the key it was sent under.
    async fn open(&self, m: &StoredMessage) -> Result<MessageBody, Trust> {
        let key = self.key_for(&m.env).map_err(Trust::Sealed)?;
        let opened = match self.web_key(&key).await {
            Ok(web_key) => {
                webcrypto::decrypt_envelope(&web_key, &m.env).await.unwrap_or_else(|_| crypto::decrypt(&m.env, &key))
            }
            Err(_) => crypto::decrypt(&m.env, &key),
        };
        opened.map_err(|e| Trust::Tampered(e.to_string()))
    }

    /// What the timeline shows for `m`, given its opened body or why it has none. An edit,
    /// delete or reaction its sender may not make ([`protocol::actions::check`]) is never
    /// applied: it shows as a message that failed verification, saying why.
    fn shown(&self, m: &StoredMessage, opened: Result<MessageBody, Trust>, roles: &Roles) -> ChatMessage {
        let env = &m.env;
        let checked = opened.and_then(|body| {
            protocol::actions::check(&env.sender, roles.owner.as_ref(), env.to.is_some(), &body.content)
                .map(|()| body)
                .map_err(|refused| Trust::Tampered(refused.to_string()))
        });
        // Presence belongs in ephemeral frames; one stored as a message shows as nothing
        // this version can read.
        let checked = checked.map(|mut body| {
            if body.content.is_ephemeral() {
                body.content = protocol::envelope::Content::Unsupported;
            }
            body
        });
        let (alias, parts, trust) = match checked {
            Err(why) => (String::new(), None, why),
            Ok(body) => (body.alias, Some(BodyParts::of(&body.content)), Trust::Verified),
        };
        let parts = parts.unwrap_or_default();
        ChatMessage {
            id: message_id(&env.sender, env.cid.as_str()),
            key: Some(m.key.to_string()),
            sender: env.sender.to_b64(),
            alias,
            text: parts.text,
            time_ms: Some(m.key.timestamp().as_millis()),
            mine: env.sender == self.me,
            from_owner: roles.owner.as_ref() == Some(&env.sender),
            from_guest: roles.guest.as_ref() == Some(&env.sender),
            whisper: env.to.map(|to| Whisper { to: to.to_b64(), mine: env.sender == self.me || to == self.me }),
            attachment: parts.attachment,
            delivery: Delivery::Sent,
            trust,
            reply_to: parts.reply_to,
            action: parts.action,
            event: parts.event,
            shown: Default::default(),
        }
    }

    /// An ephemeral envelope's body, if its signature verifies, it opens with a key this
    /// browser holds, it is for this room and it carries presence (anything else in an
    /// ephemeral frame is ignored, as presence in a stored message is).
    pub async fn open_ephemeral(&self, env: &Envelope) -> Option<MessageBody> {
        if env.room != self.room || env.sender == self.me {
            return None;
        }
        let signature_ok = match webcrypto::verify_envelope(env).await {
            Ok(ok) => ok,
            Err(_) => env.verify_signature().is_ok(),
        };
        if !signature_ok {
            return None;
        }
        let key = self.key_for(env).ok()?;
        let body = match self.web_key(&key).await {
            Ok(web_key) => {
                webcrypto::decrypt_envelope(&web_key, env).await.unwrap_or_else(|_| crypto::decrypt(env, &key))
            }
            Err(_) => crypto::decrypt(env, &key),
        }
        .ok()?;
        body.content.is_ephemeral().then_some(body)
    }

    /// Decodes a batch: signatures checked, then bodies decrypted, all concurrently with
    /// WebCrypto (each key imported once, before).
    pub async fn decode_all(&self, batch: &[StoredMessage], roles: &Roles) -> Vec<ChatMessage> {
        for m in batch {
            if let Ok(key) = self.key_for(&m.env) {
                let _ = self.web_key(&key).await;
            }
        }
        let opened = futures::future::join_all(batch.iter().map(|m| async move {
            if m.erased {
                // Nothing is left to verify or open: only who sent it, and when.
                return Err(Trust::Erased);
            }
            // If WebCrypto itself is unavailable, fall back to the pure-Rust check.
            let signature_ok = match webcrypto::verify_envelope(&m.env).await {
                Ok(ok) => ok,
                Err(_) => m.env.verify_signature().is_ok(),
            };
            if !signature_ok {
                return Err(Trust::Tampered("the sender's signature does not verify".into()));
            }
            self.open(m).await
        }))
        .await;
        batch.iter().zip(opened).map(|(m, opened)| self.shown(m, opened, roles)).collect()
    }
}
