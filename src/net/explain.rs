//! What a refusal means for the person using the app, in the app's own words: one
//! sentence per error code saying what happened and what to do next. The match is
//! exhaustive, so a new code cannot reach the screen as a raw `snake_case` string. The
//! server's own `message` is never shown in its place: a hostile server must not be able
//! to put words (a phishing link, a false instruction) in the app's mouth.

use protocol::error::ErrorCode;

/// The sentence for `code`.
pub fn sentence(code: ErrorCode) -> &'static str {
    use ErrorCode::*;
    match code {
        MalformedRequest | MalformedFrame | BadCursor | BadLimit | BadManifest | BadChunk => {
            "The server could not read what this app sent. Reload the page; if it keeps happening, the server may run another version."
        }
        UnsupportedVersion => {
            "This server speaks another version of Cloakroom. Reload the page to get the current app."
        }
        BodyTooLarge | FrameTooLarge | MessageTooLarge => {
            "This is larger than the server accepts. Make it shorter or smaller."
        }
        BadSignature | BadChallengeResponse | BadKey | SenderMismatch => {
            "The server refused this browser's proof of its key. Reload the page; if it keeps happening, import your keys again."
        }
        JoinTimeout | IdleTimeout => "The connection was too slow to answer. It reconnects by itself.",
        NotJoined | AlreadyJoined => "The connection got out of step with the room. It reconnects by itself.",
        WrongRoom => "The server answered for a different room than the link names. Nothing it sent was used.",
        UnknownRoom => {
            "This room does not exist on this server. Check that the link is complete, or ask the person who sent it for a new one."
        }
        RoomExists => "A room with this owner key already exists.",
        RoomIdMismatch => "The room id does not belong to its owner key. Create the room again.",
        RoomFull => "This room is full. Ask the owner to raise its capacity or to remove someone.",
        RateLimited => "Too much at once. Wait a moment; it is retried by itself.",
        OriginNotAllowed => "This server does not accept connections from this page's address.",
        Unauthorized => "That authorisation was not accepted. Check the admin secret or the token and try again.",
        SlowConsumer => "The connection fell behind the room. It reconnects by itself and catches up.",
        NotFound => "The server has no such thing (it may have been removed).",
        StaleRequest => "This device's clock is too far from the server's. Correct the clock and try again.",
        ReplayedRequest => "This request was already made once. Try again.",
        Forbidden => "The room's owner has not allowed this key here. Ask the owner.",
        NotAccepted => "The owner has not accepted you yet. You will see the conversation once they do.",
        StaleEpoch => "The room's key changed while this was being sent. It is sent again under the new key.",
        BudgetExhausted => "This room's storage is used up. Ask the owner to add a storage token.",
        BadTokenSize => "That token size is not one the server issues.",
        TokenSpent => "That token has already been spent. Ask for a new one.",
        TokenUnknown => "That is not a token this server issued. Check that it was copied whole.",
        TokenTooSmall => "That token is worth less than this needs. Use a larger one.",
        BadBackup => "That backup is damaged or was not made by this room's owner.",
        TokenRequired => "This needs a storage token first.",
        HashMismatch => "A piece of the file was damaged on the way. Share it again; it resumes where it stopped.",
        InviteRequired => "This link's invitation is no longer valid. Ask the owner for a new link.",
        BadState => "The room's settings sent to the server were refused. Reload and try again.",
        TokenWrongScope => "That token pays for uploads only; it cannot fund a room.",
        TokenExpired => {
            "That room authorisation has expired (or its key was withdrawn). Sign in with your organisation again for new ones."
        }
        IssuerCapReached => {
            "The signing key behind that room authorisation has paid for all the rooms it may. Sign in with your organisation again later."
        }
        QuotaExhausted => {
            "You have used all of this month's room authorisations. Ask your organisation for more, or wait for next month."
        }
        AllowanceExhausted => "You have used your share of this room's storage. Ask the owner for more.",
        TooManyConnections => "Too many open connections to this room. Close other tabs with this room.",
        BadReadProof => "This file's link is incomplete. Ask for the message with the file again.",
        UnknownMessage => "That message is no longer on the server.",
        EraseRefused => {
            "The server was not asked to drop that message: only its sender or the room's owner may, and the owner keeps deleted messages."
        }
        Unavailable | Busy => "The server is busy or restarting. It is retried by itself.",
        Internal => "Something went wrong on the server; nothing was changed. Try again.",
    }
}

/// The sentence for a refusal, with the limit it carries where that helps the person
/// (how much is left, how much is needed). Never the server's own words.
pub fn describe(e: &protocol::error::ErrorBody) -> String {
    let size = crate::files::human_size;
    match (e.code, e.limit) {
        (ErrorCode::BudgetExhausted, Some(left)) => {
            format!("Only {} of this room's storage budget is left.", size(left))
        }
        (ErrorCode::TokenTooSmall, Some(needed)) => {
            format!("{} This needs a token worth at least {}.", sentence(e.code), size(needed))
        }
        (ErrorCode::AllowanceExhausted, Some(left)) => {
            format!("{} {} of your share is left.", sentence(e.code), size(left))
        }
        _ => sentence(e.code).to_owned(),
    }
}

/// Why joining the room failed for good, as shown in its status.
pub fn join_refused(code: Option<ErrorCode>) -> String {
    match code {
        Some(code) => sentence(code).to_owned(),
        None => "The room refused this connection. Reload the page to try again.".to_owned(),
    }
}
