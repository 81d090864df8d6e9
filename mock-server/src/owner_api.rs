//! The owner's HTTP API (`/api/rooms/{room}/owner/{call}`), room restores, and how signed
//! requests and room funding are read from HTTP.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, Uri};
use protocol::api::{CreateAuthorization, CreateRoomResponse, OwnerCall, RestoreRequest};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::signed_request::{RequestAuth, RequestTarget};
use protocol::storage_token;
use tokio::sync::oneshot;

use crate::admin_secret::secrets_match;
use crate::http_api::{AUTH_FAILURE_DELAY, parse_room};
use crate::http_error::ApiError;
use crate::room_actor::{Funding, RoomCommand, Signed};
use crate::state::AppState;

/// Largest owner-call body (a lock or re-key carries one wrapped key per member).
pub const MAX_OWNER_BODY: usize = 4 * 1024 * 1024;
/// Largest backup upload.
pub const MAX_RESTORE_BODY: usize = 256 * 1024 * 1024;

/// The signed-request headers of a request, if it carries any. `uri` must be the
/// original URI (axum strips the `/api` prefix from nested routes' `Uri`).
pub fn signed_request(
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> Result<Option<Signed>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let Some(auth) = RequestAuth::from_headers(header)? else { return Ok(None) };
    let target = RequestTarget::new(method.as_str(), uri.path(), uri.query().unwrap_or(""), body);
    Ok(Some(Signed { auth, target }))
}

/// Checks, before anything else is read or parsed, that a request is signed by the owner
/// key of `room` (which the room id itself names: no room needs to be loaded) and fresh.
/// The room re-checks the signature and spends the nonce.
pub fn verify_owner_request(
    st: &AppState,
    room: &protocol::ids::RoomId,
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> Result<Signed, ApiError> {
    let Some(signed) = signed_request(headers, method, uri, body)? else {
        return Err(ApiError::new(ErrorCode::Unauthorized, "this call must be signed by the room's owner key"));
    };
    if !room.is_owned_by(&signed.auth.key) {
        return Err(ApiError::new(ErrorCode::Forbidden, "only the room's owner may do this"));
    }
    signed.auth.check_freshness(crate::clock::now_micros() / 1000)?;
    if !st.verifier.verify(&signed.auth.key, &signed.auth.transcript(&signed.target), &signed.auth.sig) {
        return Err(ApiError::new(ErrorCode::Unauthorized, "the request signature does not verify"));
    }
    Ok(signed)
}

/// Checks a creation's authorisation: the admin secret here, a token (spent later, by the
/// room worker, only if the room can be created).
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
            Ok(Funding::Token { hash: storage_token::token_hash(&token) })
        }
    }
}

/// Maps `{call}` and the method to an [`OwnerCall`] built from the JSON body.
fn owner_call(method: &Method, name: &str, body: &[u8]) -> Result<OwnerCall, ApiError> {
    let Some((expected, tag)) = protocol::api::owner_call_route(name) else {
        return Err(ApiError::new(ErrorCode::NotFound, format!("no owner call named {name:?}")));
    };
    if method.as_str() != expected {
        return Err(ApiError::new(ErrorCode::NotFound, format!("the owner call {name} takes {expected}")));
    }
    let mut value: serde_json::Value = if body.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}")))?
    };
    let Some(object) = value.as_object_mut() else {
        return Err(ApiError::new(ErrorCode::MalformedRequest, "the body must be a JSON object"));
    };
    object.insert("call".into(), tag.into());
    serde_json::from_value(value)
        .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("invalid {name} call: {e}")))
}

/// `GET|PUT|POST /api/rooms/{room}/owner/{call}`, signed by the owner.
pub async fn owner(
    State(st): State<AppState>,
    Path((room, name)): Path<(String, String)>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let room = parse_room(&room)?;
    // The signature is checked before the (up to 4 MiB) body is parsed.
    let signed = verify_owner_request(&st, &room, &headers, &method, &uri, &body)?;
    let call = owner_call(&method, &name, &body)?;
    let (reply, answer) = oneshot::channel();
    st.rooms.send(&room, RoomCommand::Owner { signed: Box::new(signed), call, reply }, false).await?;
    let value = answer.await.map_err(|_| ApiError::new(ErrorCode::Internal, "the room worker stopped"))??;
    Ok(Json(value))
}

/// `POST /api/rooms/{room}/tokens` `{"size": bytes}`: a storage token for a member,
/// signed by the member's key (pays for file uploads out of the room's budget).
pub async fn member_token(
    State(st): State<AppState>,
    Path(room): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    #[derive(serde::Deserialize)]
    struct TokenRequest {
        size: u64,
    }
    let room = parse_room(&room)?;
    let req: TokenRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}")))?;
    let Some(signed) = signed_request(&headers, &method, &uri, &body)? else {
        return Err(ApiError::new(ErrorCode::Unauthorized, "storage requests must be signed by a member's key"));
    };
    let (reply, answer) = oneshot::channel();
    st.rooms.send(&room, RoomCommand::MemberToken { signed: Box::new(signed), size: req.size, reply }, false).await?;
    let value = answer.await.map_err(|_| ApiError::new(ErrorCode::Internal, "the room worker stopped"))??;
    Ok(Json(value))
}

/// `POST /api/rooms/{room}/restore`: imports a backup signed by its owner.
pub async fn restore(
    State(st): State<AppState>,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Json<CreateRoomResponse>, ApiError> {
    let room = parse_room(&room)?;
    let verifier = st.verifier.clone();
    // Parsing and checking every signature of a large backup is CPU work: off the runtime.
    let request = tokio::task::spawn_blocking(move || -> Result<RestoreRequest, ErrorBody> {
        let request: RestoreRequest = serde_json::from_slice(&body)
            .map_err(|e| ErrorBody::new(ErrorCode::BadBackup, format!("not a restore request: {e}")))?;
        request.backup.validate(|key, message, sig| verifier.verify(key, message, sig))?;
        Ok(request)
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal, "the backup check failed"))??;
    if request.backup.backup.room != room {
        return Err(ApiError::new(ErrorCode::BadBackup, "the backup is for another room id"));
    }
    let funding = funding(&st, &request.auth).await?;
    let (reply, answer) = oneshot::channel();
    let backup = Box::new(request.backup.backup);
    st.rooms.send(&room, RoomCommand::Restore { backup, funding, reply }, true).await?;
    let created = answer.await.map_err(|_| ApiError::new(ErrorCode::Internal, "the room worker stopped"))??;
    Ok(Json(created))
}
