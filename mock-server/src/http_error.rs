//! Typed HTTP refusals: `{"error": {"code", "message", "limit"?}}` with the code's status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use protocol::error::{ErrorBody, ErrorCode, HttpError};
use serde::de::DeserializeOwned;

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
        (status, Json(HttpError { error: self.0 })).into_response()
    }
}

/// Parses a JSON body, answering `malformed_request` with serde's explanation.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}")))
}
