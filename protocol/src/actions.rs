//! Message actions: replies, edits, deletes and reactions.
//!
//! An action is an ordinary message (sealed under the room key and signed by its sender,
//! see [`crate::envelope`]) whose body points at an earlier message of the same room by
//! [`MessageRef`]: the target's sender key and the client id that sender gave it. The
//! server stores and relays actions like any message and cannot tell them apart.
//!
//! Every receiver applies the same rule ([`check`]) before an action changes what it
//! shows, because the sender key in the reference is what the target's signature proves:
//! - an **edit** only from the target's own sender, with new text within the limits;
//! - a **delete** from the target's own sender or from the room's owner;
//! - a **reaction** from anyone who can write, one short emoji-like label
//!   ([`MAX_REACTION_BYTES`], no whitespace or control characters);
//! - actions are for the whole room: a whispered action is refused (it would change, for
//!   two members, what everyone else sees differently).
//!
//! Membership lines are ordinary messages too, shown as system lines ("Nina joined"):
//! - **joined** and **left** speak only of their own sender (the signature proves who);
//! - **accepted** and **removed** name another member and only the room's owner may send
//!   them (the owner is the only one who can do either);
//! - none may be whispered (they are for the whole room).
//!
//! A reply is a text message with `reply_to` set; it needs no rule (anyone may quote
//! anything they can read), and clients that predate it show its text as usual.

use serde::{Deserialize, Serialize};

use crate::envelope::Content;
use crate::identity::PublicKey;
use crate::ids::ClientMessageId;

/// Longest reaction label, in bytes of UTF-8 (an emoji with skin tone and joiners fits).
pub const MAX_REACTION_BYTES: usize = 32;

/// Longest text of a message or an edit the client accepts to send, in bytes (the
/// envelope limit, [`crate::limits::MAX_MESSAGE_BYTES`], bounds it again once sealed).
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// A message of the same room: who sent it and the client id they gave it. Signatures
/// bind both to the target, so the reference cannot be made to point at another sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub sender: PublicKey,
    pub cid: ClientMessageId,
}

impl MessageRef {
    /// `<sender public key>/<client id>`: how clients name a message (stable across
    /// resends, the backlog and history pages).
    pub fn id(&self) -> String {
        format!("{}/{}", self.sender, self.cid)
    }

    /// The reference a client id ([`MessageRef::id`]) names, if it is well formed.
    pub fn from_id(id: &str) -> Option<MessageRef> {
        let (sender, cid) = id.split_once('/')?;
        Some(MessageRef { sender: PublicKey::parse(sender).ok()?, cid: ClientMessageId::parse(cid).ok()? })
    }
}

/// Why a receiver does not apply an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("only the sender of a message may edit it")]
    EditNotOwn,
    #[error("only the sender of a message or the room's owner may delete it")]
    DeleteNotAllowed,
    #[error("an edit must leave some text (delete the message instead)")]
    EmptyEdit,
    #[error("an edit's text is longer than {MAX_TEXT_BYTES} bytes")]
    EditTooLong,
    #[error("a reaction must be 1 to {MAX_REACTION_BYTES} bytes with no spaces or control characters")]
    BadReaction,
    #[error("actions are for the whole room and cannot be whispered")]
    Whispered,
    #[error("only the room's owner accepts or removes members")]
    MembershipNotOwner,
}

/// The message an action (or a reply) points at, if `content` is one.
pub fn target_of(content: &Content) -> Option<&MessageRef> {
    match content {
        Content::Edit { target, .. } | Content::Delete { target } | Content::Reaction { target, .. } => Some(target),
        Content::Text { reply_to, .. } => reply_to.as_ref(),
        _ => None,
    }
}

/// Whether `content`, sent by `sender` (to one member when `whispered`) in a room owned by
/// `owner`, may change what receivers show. Plain messages and replies always may.
pub fn check(
    sender: &PublicKey,
    owner: Option<&PublicKey>,
    whispered: bool,
    content: &Content,
) -> Result<(), ActionError> {
    let for_the_room = content.is_membership()
        || matches!(content, Content::Edit { .. } | Content::Delete { .. } | Content::Reaction { .. });
    if for_the_room && whispered {
        return Err(ActionError::Whispered);
    }
    match content {
        Content::Edit { target, text } => {
            if target.sender != *sender {
                Err(ActionError::EditNotOwn)
            } else if text.trim().is_empty() {
                Err(ActionError::EmptyEdit)
            } else if text.len() > MAX_TEXT_BYTES {
                Err(ActionError::EditTooLong)
            } else {
                Ok(())
            }
        }
        Content::Delete { target } => {
            if target.sender == *sender || owner == Some(sender) {
                Ok(())
            } else {
                Err(ActionError::DeleteNotAllowed)
            }
        }
        Content::Reaction { emoji, .. } => check_reaction(emoji),
        Content::Accepted { .. } | Content::Removed { .. } if owner != Some(sender) => {
            Err(ActionError::MembershipNotOwner)
        }
        _ => Ok(()),
    }
}

/// A reaction label: 1 to [`MAX_REACTION_BYTES`] bytes, no whitespace or control characters.
pub fn check_reaction(emoji: &str) -> Result<(), ActionError> {
    let ok = !emoji.is_empty()
        && emoji.len() <= MAX_REACTION_BYTES
        && !emoji.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(()) } else { Err(ActionError::BadReaction) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityKey;

    fn key(seed: u8) -> PublicKey {
        IdentityKey::from_secret_bytes(&[seed; 32]).expect("valid scalar").public_key()
    }

    fn target(sender: &PublicKey) -> MessageRef {
        MessageRef { sender: *sender, cid: ClientMessageId::parse("m1").unwrap() }
    }

    #[test]
    fn edits_only_by_their_sender_with_text_within_the_limit() {
        let (alice, bob) = (key(1), key(2));
        let edit = |text: &str| Content::Edit { target: target(&alice), text: text.into() };
        assert_eq!(check(&alice, Some(&bob), false, &edit("fixed")), Ok(()));
        assert_eq!(check(&bob, Some(&bob), false, &edit("forged")), Err(ActionError::EditNotOwn));
        assert_eq!(check(&alice, None, false, &edit("  ")), Err(ActionError::EmptyEdit));
        assert_eq!(check(&alice, None, false, &edit(&"x".repeat(MAX_TEXT_BYTES))), Ok(()));
        assert_eq!(check(&alice, None, false, &edit(&"x".repeat(MAX_TEXT_BYTES + 1))), Err(ActionError::EditTooLong));
    }

    #[test]
    fn membership_lines_name_others_only_from_the_owner_and_are_never_whispered() {
        let (alice, bob, owner) = (key(1), key(2), key(3));
        for line in [Content::Joined, Content::Left] {
            assert_eq!(check(&alice, Some(&owner), false, &line), Ok(()));
            assert_eq!(check(&alice, Some(&owner), true, &line), Err(ActionError::Whispered));
        }
        for line in [Content::Accepted { member: bob }, Content::Removed { member: bob }] {
            assert_eq!(check(&owner, Some(&owner), false, &line), Ok(()));
            assert_eq!(check(&alice, Some(&owner), false, &line), Err(ActionError::MembershipNotOwner));
            assert_eq!(check(&alice, None, false, &line), Err(ActionError::MembershipNotOwner));
            assert_eq!(check(&owner, Some(&owner), true, &line), Err(ActionError::Whispered));
        }
        // Their JSON form, as PROTOCOL.md gives it.
        assert_eq!(serde_json::to_string(&Content::Joined).unwrap(), r#"{"type":"joined"}"#);
        let accepted = serde_json::to_value(Content::Accepted { member: bob }).unwrap();
        assert_eq!(accepted, serde_json::json!({"type": "accepted", "member": bob.to_b64()}));
    }

    #[test]
    fn deletes_by_their_sender_or_the_owner_only() {
        let (alice, bob, owner) = (key(1), key(2), key(3));
        let delete = Content::Delete { target: target(&alice) };
        assert_eq!(check(&alice, Some(&owner), false, &delete), Ok(()));
        assert_eq!(check(&owner, Some(&owner), false, &delete), Ok(()));
        assert_eq!(check(&bob, Some(&owner), false, &delete), Err(ActionError::DeleteNotAllowed));
        assert_eq!(check(&bob, None, false, &delete), Err(ActionError::DeleteNotAllowed));
    }

    #[test]
    fn reactions_are_short_labels_at_and_past_the_limit() {
        let alice = key(1);
        let react = |emoji: &str| Content::Reaction { target: target(&key(2)), emoji: emoji.into(), on: true };
        for ok in ["👍", "❤️", "👩🏽‍💻", "+1", &"x".repeat(MAX_REACTION_BYTES)] {
            assert_eq!(check(&alice, None, false, &react(ok)), Ok(()), "{ok}");
        }
        for bad in ["", " ", "a b", "\u{7}", "\n", &"x".repeat(MAX_REACTION_BYTES + 1)] {
            assert_eq!(check(&alice, None, false, &react(bad)), Err(ActionError::BadReaction), "{bad:?}");
        }
    }

    #[test]
    fn actions_cannot_be_whispered_but_replies_can() {
        let alice = key(1);
        let react = Content::Reaction { target: target(&alice), emoji: "👍".into(), on: true };
        assert_eq!(check(&alice, None, true, &react), Err(ActionError::Whispered));
        let reply = Content::Text { text: "yes".into(), reply_to: Some(target(&key(2))) };
        assert_eq!(check(&alice, None, true, &reply), Ok(()));
        assert_eq!(target_of(&reply), Some(&target(&key(2))));
        let t = target(&key(2));
        assert_eq!(MessageRef::from_id(&t.id()), Some(t));
        for bad in ["", "m1", "AAAA/m1", "/m1", &format!("{}/", key(2)), &format!("{}/a b", key(2))] {
            assert_eq!(MessageRef::from_id(bad), None, "{bad}");
        }
    }

    /// The wire form of each action (docs/PROTOCOL.md, "Message actions", quotes these).
    #[test]
    fn action_bodies_have_a_fixed_json_form() {
        let t = target(&key(1));
        let sender = t.sender.to_b64();
        let cases = [
            (Content::Text { text: "hi".into(), reply_to: None }, r#"{"type":"text","text":"hi"}"#.to_owned()),
            (
                Content::Text { text: "yes".into(), reply_to: Some(t.clone()) },
                format!(r#"{{"type":"text","text":"yes","reply_to":{{"sender":"{sender}","cid":"m1"}}}}"#),
            ),
            (
                Content::Edit { target: t.clone(), text: "fixed".into() },
                format!(r#"{{"type":"edit","target":{{"sender":"{sender}","cid":"m1"}},"text":"fixed"}}"#),
            ),
            (
                Content::Delete { target: t.clone() },
                format!(r#"{{"type":"delete","target":{{"sender":"{sender}","cid":"m1"}}}}"#),
            ),
            (
                Content::Reaction { target: t.clone(), emoji: "👍".into(), on: false },
                format!(r#"{{"type":"reaction","target":{{"sender":"{sender}","cid":"m1"}},"emoji":"👍","on":false}}"#),
            ),
        ];
        for (content, json) in cases {
            assert_eq!(serde_json::to_string(&content).unwrap(), json);
            assert_eq!(serde_json::from_str::<Content>(&json).unwrap(), content);
        }
        // A reference with a bad key or id does not decode (the message is then shown as
        // one this version cannot read, never applied).
        let bad = r#"{"type":"delete","target":{"sender":"AAAA","cid":"m1"}}"#;
        assert!(serde_json::from_str::<Content>(bad).is_err());
    }
}
