//! What every handler reads from a request before it does anything: the room id, the
//! signed-request headers (verified here), how a new room is paid for, and the bodies
//! with their limits. A leaf: it depends on the error type and the app state, never on a
//! handler.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use protocol::api::CreateAuthorization;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::ids::RoomId;
use protocol::signed_request::{RequestAuth, RequestTarget};
use protocol::storage_token::{self, MIN_ROOM_FUNDING_BYTES};
use room_core::verified::VerifiedRequest;
use serde::de::DeserializeOwned;

use crate::admin_secret::secrets_match;
use crate::http::error::ApiError;
use crate::room_actor::Funding;
use crate::state::AppState;

/// Largest JSON body accepted by the API.
pub const MAX_API_BODY: usize = 64 * 1024;

/// Largest owner-call body (a lock or re-key carries one wrapped key per member).
pub const MAX_OWNER_BODY: usize = 4 * 1024 * 1024;
/// Largest backup upload.
pub const MAX_RESTORE_BODY: usize = 256 * 1024 * 1024;

/// Chunk uploads are bounded by this body limit (one chunk plus its tag).
pub const MAX_CHUNK_BODY: usize = crate::object_store::MAX_OBJECT_BYTES as usize;

/// Delay before answering a failed authorisation (slows down guessing).
pub const AUTH_FAILURE_DELAY: Duration = Duration::from_millis(50);

pub fn parse_room(text: &str) -> Result<RoomId, ApiError> {
    RoomId::parse(text).map_err(|e| ApiError::new(ErrorCode::UnknownRoom, format!("{e}")))
}

/// The signed-request headers of a request and what they sign, if it carries any.
/// `uri` must be the original URI (axum strips the `/api` prefix from nested routes'
/// `Uri`).
fn request_parts(
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> Result<Option<(RequestAuth, RequestTarget)>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Some(auth) = RequestAuth::from_headers(header)? else { return Ok(None) };
    let target = RequestTarget::new(method.as_str(), uri.path(), uri.query().unwrap_or(""), body);
    Ok(Some((auth, target)))
}

/// A request's signature, if it carries one, verified here (the room checks freshness,
/// the nonce and the key's role).
pub fn signed_request(
    st: &AppState,
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> Result<Option<VerifiedRequest>, ApiError> {
    let Some((auth, target)) = request_parts(headers, method, uri, body)? else { return Ok(None) };
    Ok(Some(VerifiedRequest::check(auth, target, st.verifier.as_ref())?))
}

/// Checks, before anything else is read or parsed, that a request is signed by the owner
/// key of `room` (which the room id itself names: no room needs to be loaded) and fresh;
/// the cheap checks first, the signature last. The room spends the nonce.
pub fn verify_owner_request(
    st: &AppState,
    room: &protocol::ids::RoomId,
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> Result<VerifiedRequest, ApiError> {
    let Some((auth, target)) = request_parts(headers, method, uri, body)? else {
        return Err(ApiError::new(ErrorCode::Unauthorized, "this call must be signed by the room's owner key"));
    };
    if !room.is_owned_by(&auth.key) {
        return Err(ApiError::new(ErrorCode::Forbidden, "only the room's owner may do this"));
    }
    auth.check_freshness(crate::clock::now_micros() / 1000)?;
    Ok(VerifiedRequest::check(auth, target, st.verifier.as_ref())?)
}

/// Checks a creation's (or restore's) authorisation before anything is started for it:
/// the admin secret here (constant time, a failure answered after
/// [`AUTH_FAILURE_DELAY`]); a token must exist in the ledger, unspent and worth at least
/// `MIN_ROOM_FUNDING_BYTES` (`token_unknown`, `token_spent`, `token_too_small`). The
/// token is only spent later, by the room worker, if the room can be created (the
/// compare-and-set there still decides a race between two requests with one token).
pub async fn funding(st: &AppState, auth: &CreateAuthorization) -> Result<Funding, ApiError> {
    match auth {
        CreateAuthorization::AdminSecret { secret } => {
            if !secrets_match(secret, &st.config.admin_secret) {
                tokio::time::sleep(AUTH_FAILURE_DELAY).await;
                return Err(ApiError::new(ErrorCode::Unauthorized, "the admin secret is wrong"));
            }
            Ok(Funding::AdminSecret)
        }
        CreateAuthorization::StorageToken { token } => {
            let token = storage_token::parse_token(token)?;
            let hash = storage_token::token_hash(&token);
            let ledger = st.ledger.clone();
            let lookup = hash.clone();
            let _permit =
                st.ledger_lookups.acquire().await.map_err(|_| ApiError::new(ErrorCode::Internal, "closed"))?;
            tokio::task::spawn_blocking(move || ledger.check(&lookup, MIN_ROOM_FUNDING_BYTES))
                .await
                .map_err(|_| ApiError::new(ErrorCode::Internal, "the ledger lookup failed"))??;
            Ok(Funding::Token { hash })
        }
        CreateAuthorization::SsoToken { token } => {
            let Some(sso) = &st.config.sso else {
                return Err(ApiError::new(ErrorCode::TokenUnknown, "this server accepts no SSO tokens"));
            };
            let key = match token.verify(&sso.keyset, crate::clock::now_micros() / 1000) {
                Ok(key) => key,
                Err(e) => {
                    // A forged or unknown token waits like a wrong admin secret.
                    if e.code == ErrorCode::TokenUnknown {
                        tokio::time::sleep(AUTH_FAILURE_DELAY).await;
                    }
                    return Err(e.into());
                }
            };
            let spent_id = token.spent_id().map_err(protocol::error::ErrorBody::from)?;
            let ledger = st.ledger.clone();
            let lookup = spent_id.clone();
            let _permit =
                st.ledger_lookups.acquire().await.map_err(|_| ApiError::new(ErrorCode::Internal, "closed"))?;
            let spent = tokio::task::spawn_blocking(move || ledger.sso_spent(&lookup))
                .await
                .map_err(|_| ApiError::new(ErrorCode::Internal, "the ledger lookup failed"))??;
            if spent {
                return Err(ApiError::new(ErrorCode::TokenSpent, "this SSO token was already spent"));
            }
            Ok(Funding::Sso(Box::new(crate::ledger::SsoPayment {
                spent_id,
                key_id: key.key_id.clone(),
                bytes: key.denomination.bytes,
                cap: key.max_redemptions,
            })))
        }
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
