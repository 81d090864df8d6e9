//! Who is here right now: members typing, and how far each member has read. Both come
//! from ephemeral frames (signed and sealed like messages, relayed by the room and never
//! stored), so they disappear with the page: nothing of them is in the room's history or
//! on the server's disk.
//!
//! Pure state; the session feeds it and sends this browser's own presence, throttled
//! (see [`TYPING_REFRESH_MS`]).

use std::collections::BTreeMap;

/// A typing indicator shows for this long after its last refresh (ms).
pub const TYPING_SHOWN_MS: f64 = 6_000.0;
/// While typing, the indicator is refreshed at most this often (ms).
pub const TYPING_REFRESH_MS: f64 = 3_000.0;

/// One member as presence shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Public key (base64url).
    pub key: String,
    pub alias: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Presence {
    /// Members typing, with when their indicator lapses (ms since the epoch).
    typing: BTreeMap<String, (String, f64)>,
    /// Per member, the newest message key they have read here.
    seen: BTreeMap<String, (String, String)>,
}

impl Presence {
    /// `key` (as `alias`) started (`on`) or stopped typing at `now`.
    pub fn typing(&mut self, key: &str, alias: &str, on: bool, now: f64) {
        if on {
            self.typing.insert(key.to_owned(), (alias.to_owned(), now + TYPING_SHOWN_MS));
        } else {
            self.typing.remove(key);
        }
    }

    /// `key` sent a message: it is no longer typing it.
    pub fn spoke(&mut self, key: &str) {
        self.typing.remove(key);
    }

    /// `key` has read up to `up_to` (a message key); read markers only move forward.
    pub fn seen(&mut self, key: &str, alias: &str, up_to: &str) {
        let newer = self.seen.get(key).is_none_or(|(_, at)| at.as_str() < up_to);
        if newer {
            self.seen.insert(key.to_owned(), (alias.to_owned(), up_to.to_owned()));
        }
    }

    /// Drops indicators that lapsed by `now`; true if any did.
    pub fn expire(&mut self, now: f64) -> bool {
        let before = self.typing.len();
        self.typing.retain(|_, (_, until)| *until > now);
        self.typing.len() != before
    }

    /// Who is typing at `now`, by alias order of arrival in the map (stable).
    pub fn typists(&self, now: f64) -> Vec<Member> {
        self.typing
            .iter()
            .filter(|(_, (_, until))| *until > now)
            .map(|(key, (alias, _))| Member { key: key.clone(), alias: alias.clone() })
            .collect()
    }

    /// The members who have read the message with `key` (or a later one).
    pub fn readers_of(&self, key: &str) -> Vec<Member> {
        self.seen
            .iter()
            .filter(|(_, (_, up_to))| up_to.as_str() >= key)
            .map(|(member, (alias, _))| Member { key: member.clone(), alias: alias.clone() })
            .collect()
    }
}

/// "Bea is typing…", "Bea and Cy are typing…", "Several people are typing…".
pub fn typing_sentence(names: &[String]) -> Option<String> {
    match names {
        [] => None,
        [one] => Some(format!("{one} is typing…")),
        [a, b] => Some(format!("{a} and {b} are typing…")),
        _ => Some("Several people are typing…".to_owned()),
    }
}
