//! The document store's HTTP API, a non-addressable worker: only KV_global and the ledger,
//! no room worker in the data path (rooms only issue the tokens that pay for uploads).
//!
//! | call | what |
//! |---|---|
//! | `POST /api/uploads` `{file, size, read_check, put_check?, token?}` | find the upload of a file, or pay to be its (next) payer |
//! | `PUT /api/uploads/{file}/chunks/{index}/{id}` + `x-cloakroom-put` | store one encrypted chunk, checked against `id` |
//! | `GET /api/files/{file}` + `x-cloakroom-read` (v1: `?v=`) | the manifest of a complete file |
//! | `GET /api/files/{file}/chunks/{index}` + the same proof | one encrypted chunk |
//!
//! Reads of a missing file and reads with a wrong proof get the same answer after the same
//! delay; an upload opened without the right `read_check` is refused before anything is
//! looked up.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use protocol::encoding::unb64_array;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::object_proofs::{PUT_HEADER, READ_HEADER};
use protocol::objects::{Manifest, UploadRequest, UploadState};
use protocol::storage_token;
use serde::Deserialize;

use room_core::funding::{self, Payment, Used};

use crate::clock::now_micros;
use crate::http::error::ApiError;
use crate::http::extract::{JsonBody, RawBody};
use crate::object_store::{ObjectStore, Opened, Paid, ReadProofText};
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
    // The read check first: without it nothing is looked up, so nothing is learnt.
    ObjectStore::check_request(&req.file, req.size, req.read_check.as_deref())?;
    let put_check = match &req.put_check {
        Some(c) => Some(
            unb64_array::<32>(c)
                .map_err(|_| ApiError::new(ErrorCode::MalformedRequest, "put_check must be base64url of 32 bytes"))?,
        ),
        None => None,
    };
    if req.token.is_some() && put_check.is_none() {
        return Err(ApiError::new(ErrorCode::MalformedRequest, "paying for an upload needs a put_check"));
    }
    let objects = st.objects.clone();
    let (file, size) = (req.file.clone(), req.size);
    let found = blocking(move || objects.find(&file, size, put_check.as_ref())).await?;
    let needed = match found {
        // Already a payer, or only looking: nothing to pay.
        Opened::Existing(state) if state.payer || req.token.is_none() => return Ok(Json(state)),
        Opened::Existing(state) => protocol::objects::stored_size(state.size),
        Opened::NeedsPayment(needed) => needed,
    };
    let (Some(token), Some(put_check)) = (req.token, put_check) else {
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
    // Spend, pay, and give the token back if paying failed or was not needed (a retried
    // request whose put check pays already): room_core::funding's rule.
    let state = blocking(move || {
        let payer = hash.clone();
        let (paid, refund_failed) = funding::run_sync(
            Payment::object(&file, hash, needed),
            |hash, min, purpose| ledger.spend(hash, min, purpose, now_micros()),
            |_| {
                let (state, paid) = objects.pay(&file, size, &put_check, &payer, now_micros())?;
                Ok((state, if paid == Paid::AlreadyPayer { Used::NotNeeded } else { Used::Yes }))
            },
            |hash| ledger.refund(hash),
        );
        if refund_failed {
            tracing::error!(file = %file, "could not refund a token after a failed or unneeded upload payment");
        }
        paid
    })
    .await?;
    Ok(Json(state))
}

/// `PUT /api/uploads/{file}/chunks/{index}/{id}`
pub async fn put_chunk(
    State(st): State<AppState>,
    Path((file, index, id)): Path<(String, u32, String)>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<UploadState>, ApiError> {
    let objects = st.objects.clone();
    let secret = header_text(&headers, PUT_HEADER);
    let state = blocking(move || objects.put_chunk(&file, index, &id, secret.as_deref(), &body)).await?;
    Ok(Json(state))
}

/// v1 reads: `?v=<verification>`.
#[derive(Deserialize)]
pub struct Verification {
    v: Option<String>,
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The proof a read presents: the `x-cloakroom-read` header (v2), else `?v=` (v1), else
/// an empty proof that reads nothing.
fn read_proof(headers: &HeaderMap, q: Verification) -> ReadProofText {
    ReadProofText::from_request(header_text(headers, READ_HEADER), q.v)
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
    headers: HeaderMap,
    Query(q): Query<Verification>,
) -> Result<Json<Manifest>, ApiError> {
    let started = Instant::now();
    let objects = st.objects.clone();
    let proof = read_proof(&headers, q);
    let result = blocking(move || objects.manifest(&file, &proof.given())).await.map(Json);
    floored(started, result).await
}

/// `GET /api/files/{file}/chunks/{index}?v=`
pub async fn chunk(
    State(st): State<AppState>,
    Path((file, index)): Path<(String, u32)>,
    headers: HeaderMap,
    Query(q): Query<Verification>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let objects = st.objects.clone();
    let proof = read_proof(&headers, q);
    let result = blocking(move || objects.chunk(&file, index, &proof.given()))
        .await
        .map(|bytes| ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response());
    floored(started, result).await
}
