//! From stored envelopes to what the UI shows: signatures checked with WebCrypto (a page
//! at a time, concurrently), bodies decrypted with the key of their epoch, or, for
//! whispers, with the pair key of the two ends. A bad signature or a body that does not
//! decrypt is marked tampered, never shown as valid; a message this browser has no key for
//! is marked sealed.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use protocol::content_key::ContentKey;
use protocol::envelope::{Content, StoredMessage};
use protocol::identity::{IdentityKey, PublicKey};
use protocol::ids::RoomId;
use protocol::whisper;

use crate::crypto::{self, webcrypto};
use crate::session::timeline::{Attachment, ChatMessage, Delivery, Trust, Whisper};

/// The keys a room's messages are read with.
pub struct Keyring {
    pub room: RoomId,
    pub identity: IdentityKey,
    pub me: PublicKey,
    /// Content keys by epoch.
    pub keys: RefCell<BTreeMap<u32, ContentKey>>,
    /// Whisper pair keys by the other end's public key (ECDH is cached, not redone).
    pair_keys: RefCell<HashMap<String, ContentKey>>,
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
        Self { room, identity, me, keys: RefCell::new(keys), pair_keys: RefCell::new(HashMap::new()) }
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
    fn key_for(&self, m: &StoredMessage) -> Result<ContentKey, String> {
        let env = &m.env;
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

    /// Decodes one message whose signature check gave `signature_ok`.
    pub fn decode(&self, m: &StoredMessage, signature_ok: bool, roles: &Roles) -> ChatMessage {
        let env = &m.env;
        let (alias, text, attachment, trust) = if !signature_ok {
            (String::new(), String::new(), None, Trust::Tampered("the sender's signature does not verify".into()))
        } else {
            match self.key_for(m) {
                Err(why) => (String::new(), String::new(), None, Trust::Sealed(why)),
                Ok(key) => match crypto::decrypt(env, &key) {
                    Ok(body) => {
                        let attachment = Attachment::of(&body.content);
                        let text = match body.content {
                            Content::Text { text } => text,
                            Content::File { .. } | Content::Image { .. } => String::new(),
                            Content::Unsupported => "(a message type this version cannot show)".to_owned(),
                        };
                        (body.alias, text, attachment, Trust::Verified)
                    }
                    Err(e) => (String::new(), String::new(), None, Trust::Tampered(e.to_string())),
                },
            }
        };
        ChatMessage {
            id: message_id(&env.sender, env.cid.as_str()),
            key: Some(m.key.to_string()),
            sender: env.sender.to_b64(),
            alias,
            text,
            time_ms: Some(m.key.timestamp().as_millis()),
            mine: env.sender == self.me,
            from_owner: roles.owner.as_ref() == Some(&env.sender),
            from_guest: roles.guest.as_ref() == Some(&env.sender),
            whisper: env.to.map(|to| Whisper { to: to.to_b64(), mine: env.sender == self.me || to == self.me }),
            attachment,
            delivery: Delivery::Sent,
            trust,
        }
    }

    /// Decodes a batch: all signatures are checked concurrently with WebCrypto.
    pub async fn decode_all(&self, batch: &[StoredMessage], roles: &Roles) -> Vec<ChatMessage> {
        let checks = batch.iter().map(|m| webcrypto::verify_envelope(&m.env));
        let results = futures::future::join_all(checks).await;
        batch
            .iter()
            .zip(results)
            .map(|(m, ok)| {
                // If WebCrypto itself is unavailable, fall back to the pure-Rust check.
                let ok = ok.unwrap_or_else(|_| m.env.verify_signature().is_ok());
                self.decode(m, ok, roles)
            })
            .collect()
    }
}
