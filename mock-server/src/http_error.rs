//! Typed HTTP refusals: `{"error": {"code", "message", "limit"?}}` with the code's status.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::error::{ErrorBody, ErrorCode, HttpError};
use serde::de::DeserializeOwned;

use crate::app::MAX_API_BODY;

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

/// A raw request body; one above the route's limit becomes a typed `body_too_large`.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(RawBody).map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::BodyTooLarge, "the request body is larger than this endpoint accepts")
            } else {
                ApiError::new(ErrorCode::MalformedRequest, format!("cannot read the body: {e}"))
            }
        })
    }
}

/// A JSON request body together with its raw bytes (for signed requests, whose signature
/// covers the body's hash).
pub struct JsonWithBytes<T>(pub T, pub Bytes);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonWithBytes<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(|value| JsonWithBytes(value, bytes))
            .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}")))
    }
}

/// A JSON request body: too large or malformed bodies become typed refusals
/// (`body_too_large` with the limit, `malformed_request` with serde's explanation).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(
                    ErrorBody::new(
                        ErrorCode::BodyTooLarge,
                        format!("request bodies are limited to {MAX_API_BODY} bytes"),
                    )
                    .with_limit(MAX_API_BODY as u64),
                )
            } else {
                ApiError::new(ErrorCode::MalformedRequest, format!("cannot read the body: {e}"))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}")))
    }
}
