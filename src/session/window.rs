//! Which stretch of the timeline is in the DOM. A room may hold 10,000 messages in
//! memory, but the message list renders only a window of them: the newest
//! [`FOLLOW_ROWS`] while the reader is at the bottom, otherwise a span of at most
//! [`MAX_ROWS`] that grows by [`STEP`] rows toward whichever end the reader scrolls to
//! and drops rows at the other end. Every operation costs O(window), never O(history),
//! so the thousandth older page costs what the first did.
//!
//! The window is named by message ids (stable across a pending message's commit), so it
//! survives messages arriving, being acknowledged or loaded from older pages.

use super::timeline::{ChatMessage, Timeline};

/// Rows shown while following the newest message.
pub const FOLLOW_ROWS: usize = 60;
/// Rows added (and, past [`MAX_ROWS`], dropped) per step.
pub const STEP: usize = 50;
/// The most rows the DOM ever holds.
pub const MAX_ROWS: usize = 160;

/// The rows the message list renders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TimelineWindow {
    /// The newest [`FOLLOW_ROWS`] messages, moving as messages arrive.
    #[default]
    Newest,
    /// From `from` through `to` (through the newest when `None`), at most [`MAX_ROWS`].
    Span { from: String, to: Option<String> },
}

impl TimelineWindow {
    /// The messages to render, oldest first.
    pub fn rows(&self, timeline: &Timeline) -> Vec<ChatMessage> {
        match self {
            TimelineWindow::Newest => timeline.newest(FOLLOW_ROWS),
            TimelineWindow::Span { from, to } => {
                timeline.span(from, to.as_deref(), MAX_ROWS).unwrap_or_else(|| timeline.newest(FOLLOW_ROWS))
            }
        }
    }

    /// Pins the rows shown now, so that arrivals no longer move the window's start (the
    /// reader left the bottom).
    pub fn freeze(&mut self, timeline: &Timeline) {
        if *self == TimelineWindow::Newest
            && let Some(first) = timeline.newest(FOLLOW_ROWS).first()
        {
            *self = TimelineWindow::Span { from: first.id.clone(), to: None };
        }
    }

    fn bounds(&self, timeline: &Timeline) -> Option<(String, String)> {
        let rows = self.rows(timeline);
        Some((rows.first()?.id.clone(), rows.last()?.id.clone()))
    }

    /// Adds up to [`STEP`] older rows above (dropping rows below past [`MAX_ROWS`]);
    /// false when the window already starts at the oldest loaded message.
    pub fn extend_up(&mut self, timeline: &Timeline) -> bool {
        let Some((first, last)) = self.bounds(timeline) else { return false };
        let Some(new_first) = timeline.id_before(&first, STEP).map(str::to_owned) else { return false };
        if new_first == first {
            return false;
        }
        let mut new_last = last;
        if timeline.count_between(&new_first, &new_last, MAX_ROWS + 1) > MAX_ROWS {
            new_last = timeline.id_after(&new_first, MAX_ROWS - 1).unwrap_or(&new_last).to_owned();
        }
        *self = TimelineWindow::Span { to: self.end(timeline, new_last), from: new_first };
        true
    }

    /// Adds up to [`STEP`] newer rows below (dropping rows above past [`MAX_ROWS`]);
    /// false when the window already ends at the newest message.
    pub fn extend_down(&mut self, timeline: &Timeline) -> bool {
        let Some((first, last)) = self.bounds(timeline) else { return false };
        let Some(new_last) = timeline.id_after(&last, STEP).map(str::to_owned) else { return false };
        if new_last == last {
            return false;
        }
        let mut new_first = first;
        if timeline.count_between(&new_first, &new_last, MAX_ROWS + 1) > MAX_ROWS {
            new_first = timeline.id_before(&new_last, MAX_ROWS - 1).unwrap_or(&new_first).to_owned();
        }
        *self = TimelineWindow::Span { to: self.end(timeline, new_last.clone()), from: new_first };
        true
    }

    /// `None` (through the newest) when `last` is the newest message.
    fn end(&self, timeline: &Timeline, last: String) -> Option<String> {
        (timeline.last_id() != Some(last.as_str())).then_some(last)
    }

    /// The window ends at the newest message (nothing newer is left out of the DOM).
    pub fn reaches_newest(&self, timeline: &Timeline) -> bool {
        self.bounds(timeline).is_none_or(|(_, last)| timeline.last_id() == Some(last.as_str()))
    }

    /// The window starts at the oldest loaded message (older ones need a page load).
    pub fn reaches_oldest(&self, timeline: &Timeline) -> bool {
        self.bounds(timeline).is_none_or(|(first, _)| timeline.first_id() == Some(first.as_str()))
    }
}
