//! Dropping a deleted message's content from the room (`erase`).
//!
//! A delete for everyone is itself a sealed message (`Content::Delete`): the room cannot
//! read it, so it cannot tell which stored message it removes. The deleting browser says
//! so in the clear with an `erase` naming the target's key, on the connection that proved
//! its key. The room drops the target's nonce and ciphertext (keeping the header every
//! reader already saw) when the asker is the message's sender or the room's owner and the
//! owner's policy does not keep deleted messages, then tells every reader (`erased`).
//! Erasing twice answers `erased` again and changes nothing. The bytes freed go back to
//! the room's budget.

use protocol::envelope::StoredMessage;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::frames::ServerFrame;
use protocol::ids::MessageKey;

use crate::connection::ConnState;
use crate::effects::{ConnId, Outgoing};
use crate::room::{Room, frame_text, storage_error};
use crate::schema;
use crate::storage::KvStore;
use crate::time::UnixMicros;

impl Room {
    /// A joined connection asks to drop the content of the stored message `key`.
    pub(crate) fn erase(&mut self, conn: ConnId, key: MessageKey, now: UnixMicros, store: &dyn KvStore) {
        let Some(asker) = self.writer(conn, None, now) else { return };
        let mut stored = match self.erasable(&asker, &key, store) {
            Ok(Some(stored)) => stored,
            Ok(None) => return self.send(conn, &ServerFrame::Erased { key }),
            Err(e) => return self.refuse(conn, e, None),
        };
        let before = schema::encode(&stored).len() as u64;
        stored.erase();
        let bytes = schema::encode(&stored);
        if let Err(e) = self.fx.writes.put(key.as_str(), bytes.clone()) {
            return self.refuse(conn, storage_error(e), None);
        }
        let freed = before.saturating_sub(bytes.len() as u64);
        self.budget.remaining = self.budget.remaining.saturating_add(freed).min(self.budget.total);
        self.budget.message_bytes = self.budget.message_bytes.saturating_sub(freed);
        self.pending.budget_charged = true;
        self.fx.replicate.push((key.as_str().to_owned(), bytes));
        self.fx.erased = true;
        if let Some(staged) = self.pending.messages.iter_mut().find(|m| m.key == key) {
            *staged = stored;
        }
        let text = frame_text(&ServerFrame::Erased { key });
        for (reader, state) in &self.conns {
            if matches!(state, ConnState::Joined { .. }) {
                self.fx.outgoing.push(Outgoing::Send { conn: *reader, text: text.clone() });
            }
        }
    }

    /// The message `asker` may have erased, `None` if it already is, or why not.
    fn erasable(
        &self,
        asker: &protocol::identity::PublicKey,
        key: &MessageKey,
        store: &dyn KvStore,
    ) -> Result<Option<StoredMessage>, ErrorBody> {
        if self.meta.keep_deleted {
            return Err(ErrorBody::new(
                ErrorCode::EraseRefused,
                "the room's owner keeps the content of deleted messages",
            ));
        }
        let unknown = || ErrorBody::new(ErrorCode::UnknownMessage, "no stored message of this room has that key");
        if key.room() != *self.id() {
            return Err(unknown());
        }
        let stored = match self.pending.messages.iter().find(|m| m.key == *key) {
            Some(staged) => staged.clone(),
            None => match store.get(key.as_str()).map_err(storage_error)? {
                Some(bytes) => schema::decode::<StoredMessage>("message", &bytes).map_err(storage_error)?,
                None => return Err(unknown()),
            },
        };
        if stored.env.sender != *asker && *asker != self.meta.owner {
            return Err(ErrorBody::new(
                ErrorCode::EraseRefused,
                "only the message's sender or the room's owner may have its content dropped",
            ));
        }
        Ok((!stored.erased).then_some(stored))
    }
}
