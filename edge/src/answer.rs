//! Answers: JSON bodies and typed refusals (`{"error": {...}}` with the code's status,
//! the same bytes as mock-server), and the security headers every response carries.

use protocol::error::{ErrorBody, ErrorCode, HttpError};
use worker::{Headers, Request, Response, Result};

/// Largest JSON body of an API call (the same as mock-server).
pub const MAX_API_BODY: usize = 64 * 1024;
/// Largest owner-call body (a lock or re-key carries one wrapped key per member).
pub const MAX_OWNER_BODY: usize = 4 * 1024 * 1024;

/// A request's body of at most `limit` bytes, or `body_too_large`: a declared length
/// over the limit is refused before anything is read.
pub async fn read_body(req: &mut Request, limit: usize) -> Result<std::result::Result<Vec<u8>, ErrorBody>> {
    let too_large = || {
        ErrorBody::new(ErrorCode::BodyTooLarge, format!("request bodies are limited to {limit} bytes"))
            .with_limit(limit as u64)
    };
    let declared = req.headers().get("content-length")?.and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(Err(too_large()));
    }
    let body = req.bytes().await?;
    Ok(if body.len() > limit { Err(too_large()) } else { Ok(body) })
}

/// Seconds a `busy` answer asks the client to wait (the same as mock-server).
const BUSY_RETRY_AFTER_SECS: &str = "5";

/// A JSON answer to an API call.
pub fn json<T: serde::Serialize>(value: &T) -> Result<Response> {
    let mut response = Response::from_json(value)?;
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

/// A typed refusal.
pub fn refusal(error: ErrorBody) -> Result<Response> {
    let busy = error.code == ErrorCode::Busy;
    let status = error.code.http_status();
    let mut response = Response::from_json(&HttpError { error })?.with_status(status);
    response.headers_mut().set("cache-control", "no-store")?;
    if busy {
        response.headers_mut().set("retry-after", BUSY_RETRY_AFTER_SECS)?;
    }
    Ok(response)
}

/// A refusal from a code and a message.
pub fn refuse(code: ErrorCode, message: impl Into<String>) -> Result<Response> {
    refusal(ErrorBody::new(code, message))
}

/// Adds the headers mock-server puts on every response: the Content-Security-Policy
/// (`policy`), and no opener, no referrer, no sniffing.
pub fn harden(response: Response, policy: &str) -> Result<Response> {
    // Responses fetched from a binding may have immutable headers: copy them.
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        headers.append(&name, &value)?;
    }
    headers.set("content-security-policy", policy)?;
    headers.set("cross-origin-opener-policy", "same-origin")?;
    headers.set("referrer-policy", "no-referrer")?;
    headers.set("x-content-type-options", "nosniff")?;
    Ok(response.with_headers(headers))
}
