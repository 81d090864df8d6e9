//! The HTTP half of the worker API (`/api/...`), see `docs/PROTOCOL.md`.
//!
//! Calls that concern one room go to that room's actor; cross-room queries
//! (`last-message-times`) read KV_global only, like a non-addressable worker.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, Method};
use protocol::api::{
    CreateRoomRequest, CreateRoomResponse, HistoryPage, InfoResponse, LastMessageTimesRequest, LastMessageTimesResponse,
};
use protocol::error::ErrorCode;
use protocol::limits::MAX_ROOMS_PER_QUERY;
use serde::Deserialize;

use crate::http::error::ApiError;
use crate::http::extract::{JsonBody, JsonWithBytes};
use crate::http::extract::{funding, parse_room, signed_request, verify_owner_request};
use crate::room_actor::RoomCommand;
use crate::state::AppState;

/// `GET /api/info`
pub async fn info(State(st): State<AppState>) -> Json<InfoResponse> {
    Json(InfoResponse {
        name: "cloakroom mock-server".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        protocol: protocol::PROTOCOL_VERSION,
        limits: st.config.limits.clone(),
        sso: st.config.sso.as_ref().map(|s| s.info.clone()),
        calls: st.config.calls.clone(),
    })
}

/// `GET /api/sso/keys`: the root-signed key set of the SSO this server accepts tokens
/// from (the browser checks its signature against `/api/info`'s root key and blinds only
/// to its keys).
pub async fn sso_keys(State(st): State<AppState>) -> Result<Json<protocol::sso::SsoKeyset>, ApiError> {
    match &st.config.sso {
        Some(sso) => Ok(Json(sso.keyset.clone())),
        None => Err(ApiError::new(ErrorCode::NotFound, "this server accepts no SSO tokens")),
    }
}

/// `POST /api/rooms`, a signed request by the new room's owner key (so nobody can claim a
/// room id whose key they do not hold, e.g. before its owner moves it here).
pub async fn create_room(
    State(st): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    JsonWithBytes(req, body): JsonWithBytes<CreateRoomRequest>,
) -> Result<Json<CreateRoomResponse>, ApiError> {
    if !req.room.is_owned_by(&req.owner) {
        return Err(ApiError::new(ErrorCode::RoomIdMismatch, "the room id is not derived from this owner key"));
    }
    verify_owner_request(&st, &req.room, &headers, &method, &uri, &body)?;
    let funding = funding(&st, &req.auth).await?;
    let (owner, state) = (Box::new(req.owner), Box::new(req.state));
    let created = st.rooms.call(&req.room, true, |reply| RoomCommand::Create { owner, state, funding, reply }).await?;
    Ok(Json(created))
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    before: Option<String>,
    limit: Option<String>,
}

/// `GET /api/rooms/{room}/history?before=<message key>&limit=<n>`
pub async fn history(
    State(st): State<AppState>,
    Path(room): Path<String>,
    Query(q): Query<HistoryQuery>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Json<HistoryPage>, ApiError> {
    let room = parse_room(&room)?;
    // Locked rooms answer only signed requests by the owner or accepted members.
    let signed = signed_request(&st, &headers, &method, &uri, b"")?.map(Box::new);
    let limit = match q.limit.as_deref() {
        None => None,
        Some(text) => Some(text.parse::<usize>().map_err(|_| {
            ApiError::new(
                ErrorCode::BadLimit,
                format!("limit must be a number from 1 to {}", st.config.limits.max_history_page),
            )
        })?),
    };
    let before = q.before;
    let page = st.rooms.call(&room, false, |reply| RoomCommand::History { before, limit, signed, reply }).await?;
    Ok(Json(page))
}

/// `POST /api/last-message-times`: answered from KV_global without touching room workers.
pub async fn last_message_times(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<LastMessageTimesRequest>,
) -> Result<Json<LastMessageTimesResponse>, ApiError> {
    if req.rooms.len() > MAX_ROOMS_PER_QUERY {
        let e = protocol::error::ErrorBody::new(
            ErrorCode::BadLimit,
            format!("at most {MAX_ROOMS_PER_QUERY} rooms per query"),
        )
        .with_limit(MAX_ROOMS_PER_QUERY as u64);
        return Err(e.into());
    }
    let global = st.global.clone();
    let rooms = tokio::task::spawn_blocking(move || {
        let mut out = BTreeMap::new();
        for room in req.rooms {
            let latest = global.latest_message_key(&room)?;
            out.insert(room, latest);
        }
        Ok::<_, room_core::StorageError>(out)
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal, "query task failed"))?
    .map_err(|e| ApiError::new(ErrorCode::Internal, format!("KV_global read failed: {e}")))?;
    Ok(Json(LastMessageTimesResponse { rooms }))
}

/// Any other `/api/...` path.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such API endpoint")
}
