//! Answers: JSON bodies and typed refusals (`{"error": {...}}` with the code's status,
//! the same bytes as mock-server), and the security headers every response carries.

use protocol::error::{ErrorBody, ErrorCode, HttpError};
use worker::{Headers, Response, Result};

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
