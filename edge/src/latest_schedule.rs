//! When the room object may write its newest message key to Workers KV: at most one write
//! per second per key (KV's limit), and **never a second write while one is on its way**.
//!
//! Without the second rule a busy room started a KV write with every message once the
//! first write took longer than a second (on local workerd they queue behind each other):
//! each waiting write held its message's whole handler, and the object's memory grew by
//! about 3.6 KiB per message until it would have been reset (BENCHMARKS.md, "Edge").
//!
//! Plain Rust (its tests run natively); [`crate::latest_index`] keeps what was written in
//! the object's storage and does the KV IO.

/// Least time between two writes of one room's key (µs): Workers KV's per-key limit.
pub const MIN_WRITE_INTERVAL_US: u64 = 1_000_000;

/// The write schedule of one room's newest key.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteSchedule {
    /// The key last written, and when the write ended (µs).
    pub written: Option<(String, u64)>,
    /// When the next write may start, if the newest key is not written yet.
    due: Option<u64>,
    /// A write is on its way, started then (µs).
    writing: Option<u64>,
}

impl WriteSchedule {
    /// Starts from what an earlier life of the object wrote.
    pub fn resumed(written: Option<(String, u64)>) -> Self {
        Self { written, ..Self::default() }
    }

    /// Notes the room's newest key after a batch; returns when a write is due, if one is
    /// (a time after `now` needs the alarm; one at `now` happens after the batch).
    pub fn note(&mut self, latest: Option<&str>, now: u64) -> Option<u64> {
        let written = self.written.as_ref().map(|(key, _)| key.as_str());
        // A second after the last write began or ended (a first write: at once).
        let last = self.written.as_ref().map(|(_, at)| *at).into_iter().chain(self.writing).max();
        let earliest = last.map_or(0, |at| at.saturating_add(MIN_WRITE_INTERVAL_US));
        self.due = (latest.is_some() && latest != written).then(|| now.max(earliest));
        self.due
    }

    /// The key to write now, if a write is due and none is on its way; the write must end
    /// with [`WriteSchedule::wrote`] or [`WriteSchedule::failed`].
    pub fn take_due(&mut self, latest: Option<&str>, now: u64) -> Option<String> {
        if self.writing.is_some() {
            return None;
        }
        match (self.due, latest) {
            (Some(due), Some(latest)) if due <= now => {
                self.due = None;
                self.writing = Some(now);
                Some(latest.to_owned())
            }
            _ => None,
        }
    }

    /// The write of `key` ended well at `now`; returns when the next one is due if the
    /// room moved on meanwhile (`latest`).
    pub fn wrote(&mut self, key: String, latest: Option<&str>, now: u64) -> Option<u64> {
        self.writing = None;
        self.written = Some((key, now));
        self.note(latest, now)
    }

    /// The write failed at `now`: try again a second later.
    pub fn failed(&mut self, now: u64) -> u64 {
        self.writing = None;
        let due = now + MIN_WRITE_INTERVAL_US;
        self.due = Some(due);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = MIN_WRITE_INTERVAL_US;

    #[test]
    fn one_write_at_a_time_and_at_most_one_a_second() {
        let mut s = WriteSchedule::default();
        assert_eq!(s.note(Some("k1"), 10), Some(10), "the first new key is written at once");
        assert_eq!(s.take_due(Some("k1"), 10).as_deref(), Some("k1"));
        // While it is on its way (however long it takes), no message starts another.
        for (i, now) in [20, 10 + S, 10 + 5 * S].into_iter().enumerate() {
            let latest = format!("k{}", i + 2);
            s.note(Some(&latest), now);
            assert_eq!(s.take_due(Some(&latest), now), None, "a second write while one is on its way");
        }
        // It ends after 6 s: the room moved on, so the next is due a second later.
        assert_eq!(s.wrote("k1".into(), Some("k4"), 10 + 6 * S), Some(10 + 7 * S));
        assert_eq!(s.take_due(Some("k4"), 10 + 6 * S + 1), None, "not before the second is up");
        assert_eq!(s.take_due(Some("k4"), 10 + 7 * S).as_deref(), Some("k4"));
        // Nothing new after it: nothing more is due.
        assert_eq!(s.wrote("k4".into(), Some("k4"), 10 + 7 * S), None);
        assert_eq!(s.take_due(Some("k4"), 10 + 20 * S), None);
    }

    #[test]
    fn a_failed_write_is_tried_again_a_second_later() {
        let mut s = WriteSchedule::resumed(Some(("k0".into(), 0)));
        assert_eq!(s.note(Some("k0"), 5 * S), None, "already written");
        assert_eq!(s.note(Some("k1"), 5 * S), Some(5 * S));
        assert_eq!(s.take_due(Some("k1"), 5 * S).as_deref(), Some("k1"));
        assert_eq!(s.failed(5 * S + 10), 6 * S + 10);
        assert_eq!(s.take_due(Some("k1"), 6 * S), None);
        assert_eq!(s.take_due(Some("k1"), 6 * S + 10).as_deref(), Some("k1"));
    }
}
