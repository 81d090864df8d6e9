//! The document store's HTTP API, a non-addressable worker: only KV_global and the ledger,
//! no room worker in the data path (rooms only issue the tokens that pay for uploads).
//!
//! | call | what |
//! |---|---|
//! | `POST /api/uploads` `{file, size, token?}` | find or open (pay for) the upload of a file |
//! | `PUT /api/uploads/{file}/chunks/{index}/{id}` | store one encrypted chunk, checked against `id` |
//! | `GET /api/files/{file}?v=` | the manifest of a complete file |
//! | `GET /api/files/{file}/chunks/{index}?v=` | one encrypted chunk |
//!
//! Reads of a missing file and reads with a wrong verification token get the same answer
//! after the same delay.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::objects::{Manifest, UploadRequest, UploadState};
use protocol::storage_token;
use serde::Deserialize;

use crate::clock::now_micros;
use crate::http_error::{ApiError, JsonBody, RawBody};
use crate::object_store::Opened;
use crate::state::AppState;

/// Every read answers after at least this long, found or not (no timing oracle).
const READ_FLOOR: Duration = Duration::from_millis(25);

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ErrorBody> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the document store task failed"))?
        .map_err(ApiError::from)
}

/// `POST /api/uploads`
pub async fn open_upload(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<UploadRequest>,
) -> Result<Json<UploadState>, ApiError> {
    let objects = st.objects.clone();
    let (file, size) = (req.file.clone(), req.size);
    let found = blocking(move || objects.find(&file, size)).await?;
    let needed = match found {
        Opened::Existing(state) => return Ok(Json(state)),
        Opened::NeedsPayment(needed) => needed,
    };
    let Some(token) = req.token else {
        return Err(ApiError(
            ErrorBody::new(
                ErrorCode::TokenRequired,
                format!("storing this file needs a storage token worth {needed} bytes"),
            )
            .with_limit(storage_token::round_size(needed).map(|_| needed).unwrap_or(needed)),
        ));
    };
    let hash = storage_token::token_hash(&storage_token::parse_token(&token)?);
    let (objects, ledger) = (st.objects.clone(), st.ledger.clone());
    let file = req.file.clone();
    let state = blocking(move || {
        ledger.spend(&hash, needed, &format!("object:{file}"), now_micros())?;
        let (state, created) = objects.create(&file, size, &hash, now_micros())?;
        if !created {
            // Someone opened the same upload meanwhile: this token was not needed.
            ledger.refund(&hash)?;
        }
        Ok(state)
    })
    .await?;
    Ok(Json(state))
}

/// `PUT /api/uploads/{file}/chunks/{index}/{id}`
pub async fn put_chunk(
    State(st): State<AppState>,
    Path((file, index, id)): Path<(String, u32, String)>,
    RawBody(body): RawBody,
) -> Result<Json<UploadState>, ApiError> {
    let objects = st.objects.clone();
    let state = blocking(move || objects.put_chunk(&file, index, &id, &body)).await?;
    Ok(Json(state))
}

#[derive(Deserialize)]
pub struct Verification {
    v: Option<String>,
}

async fn floored<T>(started: Instant, result: Result<T, ApiError>) -> Result<T, ApiError> {
    let spent = started.elapsed();
    if spent < READ_FLOOR {
        tokio::time::sleep(READ_FLOOR - spent).await;
    }
    result
}

/// `GET /api/files/{file}?v=`
pub async fn manifest(
    State(st): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<Verification>,
) -> Result<Json<Manifest>, ApiError> {
    let started = Instant::now();
    let objects = st.objects.clone();
    let v = q.v.unwrap_or_default();
    let result = blocking(move || objects.manifest(&file, &v)).await.map(Json);
    floored(started, result).await
}

/// `GET /api/files/{file}/chunks/{index}?v=`
pub async fn chunk(
    State(st): State<AppState>,
    Path((file, index)): Path<(String, u32)>,
    Query(q): Query<Verification>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let objects = st.objects.clone();
    let v = q.v.unwrap_or_default();
    let result = blocking(move || objects.chunk(&file, index, &v))
        .await
        .map(|bytes| ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response());
    floored(started, result).await
}

/// Chunk uploads are bounded by this body limit (one chunk plus its tag).
pub const MAX_CHUNK_BODY: usize = crate::object_store::MAX_OBJECT_BYTES as usize;
