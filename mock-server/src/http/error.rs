//! Typed HTTP refusals: `{"error": {"code", "message", "limit"?}}` with the code's status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::error::{ErrorBody, ErrorCode, HttpError};

/// An [`ErrorBody`] that answers an HTTP request.
#[derive(Debug)]
pub struct ApiError(pub ErrorBody);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ErrorBody::new(code, message))
    }
}

impl From<ErrorBody> for ApiError {
    fn from(value: ErrorBody) -> Self {
        Self(value)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let busy = self.0.code == ErrorCode::Busy;
        let mut response = (status, Json(HttpError { error: self.0 })).into_response();
        if busy {
            // "Try later": say when.
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(crate::config::BUSY_RETRY_AFTER_SECS));
        }
        response
    }
}
