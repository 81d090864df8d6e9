//! Calls: what the call view shows ([`CallView`]), and the WebRTC glue ([`rtc`]). The
//! signalling state machine is the session's (`session/calls.rs`): it seals every signal
//! to one person and verifies every signal it receives.

pub mod rtc;

/// What the call part of a room shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum CallView {
    /// No call.
    #[default]
    Idle,
    /// Someone calls this browser: accept or decline.
    Ringing { call: String, from: String, alias: String, video: bool },
    /// Calling out, or in a call.
    Active(ActiveCall),
    /// The last call ended, and why (declined, no answer, a refused signal).
    Ended { why: String },
}

/// A call this browser is in.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveCall {
    pub call: String,
    pub video: bool,
    pub muted: bool,
    pub camera_off: bool,
    /// This browser placed the call (it posts the call's line to the room at the end).
    pub outgoing: bool,
    pub peers: Vec<PeerView>,
    /// When the first person connected (ms since the epoch).
    pub connected_at: Option<f64>,
    /// This side sends its screen instead of its camera.
    pub sharing: bool,
    /// The microphones and cameras to choose from, and the ids of those in use.
    pub devices: Vec<rtc::Device>,
    pub microphone: String,
    pub camera: String,
}

impl ActiveCall {
    /// A call this side just placed (`outgoing`) or took, with `peers`.
    pub fn new(call: String, video: bool, outgoing: bool, peers: Vec<PeerView>) -> ActiveCall {
        ActiveCall {
            call,
            video,
            muted: false,
            camera_off: !video,
            outgoing,
            peers,
            connected_at: None,
            sharing: false,
            devices: Vec::new(),
            microphone: String::new(),
            camera: String::new(),
        }
    }
}

/// One other person in the call.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerView {
    pub key: String,
    pub alias: String,
    pub state: PeerState,
}

/// Where the connection to one person stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    Ringing,
    Connecting,
    Connected,
    /// The network dropped; the browser tries to recover.
    Reconnecting,
}

impl PeerState {
    pub fn words(self) -> &'static str {
        match self {
            PeerState::Ringing => "ringing…",
            PeerState::Connecting => "connecting…",
            PeerState::Connected => "connected",
            PeerState::Reconnecting => "reconnecting…",
        }
    }
}

/// "1:05", "12:00", "1:02:03".
pub fn duration(seconds: u32) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m}:{s:02}") }
}
