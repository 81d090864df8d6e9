//! HTTP calls to the worker API, with its typed errors turned into readable ones, and
//! signed requests (owner calls, history of locked rooms) made with the identity key.

use gloo_net::http::{Method, Request, RequestBuilder, Response};
use protocol::api::{
    CreateAuthorization, CreateRoomRequest, CreateRoomResponse, HistoryPage, InfoResponse, IssuedToken,
    LastMessageTimesRequest, LastMessageTimesResponse, OwnerCall,
};
use protocol::encoding::b64;
use protocol::error::{ErrorBody, ErrorCode, HttpError};
use protocol::identity::IdentityKey;
use protocol::ids::RoomId;
use protocol::object_proofs::{PUT_HEADER, PutSecret, READ_HEADER, ReadProof};
use protocol::objects::{Manifest, ReadAccess, UploadRequest, UploadState};
use protocol::room_state::SignedState;
use protocol::signed_request::{RequestAuth, RequestTarget};
use serde::de::DeserializeOwned;

use crate::crypto::random_bytes;
use crate::net::chunk_sender::{self, Sent};

/// Decodes a success body, or the server's typed error.
async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, ErrorBody> {
    let status = response.status();
    let body = response.text().await.map_err(network_error)?;
    decode_body(status, &body)
}

/// [`decode`] for an answer already read.
fn decode_body<T: DeserializeOwned>(status: u16, body: &str) -> Result<T, ErrorBody> {
    if (200..300).contains(&status) {
        return serde_json::from_str::<T>(body)
            .map_err(|e| ErrorBody::new(ErrorCode::Internal, format!("unexpected answer from the server: {e}")));
    }
    match serde_json::from_str::<HttpError>(body) {
        Ok(HttpError { error }) => Err(error),
        Err(_) => Err(untyped_error(status)),
    }
}

/// An error answer without the server's JSON (its own timeout, or a proxy in between):
/// only the statuses that mean "try again later" count as the server being unavailable.
fn untyped_error(status: u16) -> ErrorBody {
    let code = match status {
        408 | 429 | 502 | 503 | 504 => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    };
    ErrorBody::new(code, format!("the server answered HTTP {status}"))
}

fn network_error(e: gloo_net::Error) -> ErrorBody {
    ErrorBody::new(ErrorCode::Unavailable, format!("cannot reach the server: {e}"))
}

/// `GET /api/info`: the server's protocol version and the limits it enforces.
pub async fn info() -> Result<InfoResponse, ErrorBody> {
    decode(Request::get("/api/info").send().await.map_err(network_error)?).await
}

/// Registers a new room owned by `owner` with its first signed `state`, authorised by the
/// server's admin secret or funded by a storage token; the request is signed by the owner
/// key (which proves this browser holds it).
pub async fn create_room(
    room: &RoomId,
    owner: &IdentityKey,
    state: &SignedState,
    auth: CreateAuthorization,
) -> Result<CreateRoomResponse, ErrorBody> {
    let body = CreateRoomRequest { room: room.clone(), owner: owner.public_key(), auth, state: state.clone() };
    let bytes = serde_json::to_vec(&body).map_err(|e| ErrorBody::new(ErrorCode::Internal, e.to_string()))?;
    let builder = sign(Request::post("/api/rooms"), owner, "POST", "/api/rooms", "", &bytes)
        .header("content-type", "application/json");
    let text = String::from_utf8(bytes).map_err(|e| ErrorBody::new(ErrorCode::Internal, e.to_string()))?;
    let request = builder.body(text).map_err(network_error)?;
    decode(request.send().await.map_err(network_error)?).await
}

/// Adds the signed-request headers for `method path?query` with `body`, signed now.
fn sign(
    builder: RequestBuilder,
    who: &IdentityKey,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> RequestBuilder {
    let target = RequestTarget::new(method, path, query, body);
    let auth = RequestAuth::sign(who, &target, js_sys::Date::now() as u64, random_bytes::<16>());
    auth.headers().iter().fold(builder, |b, (name, value)| b.header(name, value))
}

/// One page of history before `before` (signed by `reader` when given: locked rooms).
pub async fn history(
    room: &RoomId,
    before: Option<&str>,
    limit: usize,
    reader: Option<&IdentityKey>,
) -> Result<HistoryPage, ErrorBody> {
    let path = format!("/api/rooms/{room}/history");
    let query = match before {
        Some(b) => format!("before={b}&limit={limit}"),
        None => format!("limit={limit}"),
    };
    let mut builder = Request::get(&format!("{path}?{query}"));
    if let Some(who) = reader {
        builder = sign(builder, who, "GET", &path, &query, b"");
    }
    decode(builder.send().await.map_err(network_error)?).await
}

/// The newest message key of each room, from the non-addressable API.
pub async fn last_message_times(rooms: Vec<RoomId>) -> Result<LastMessageTimesResponse, ErrorBody> {
    let request =
        Request::post("/api/last-message-times").json(&LastMessageTimesRequest { rooms }).map_err(network_error)?;
    decode(request.send().await.map_err(network_error)?).await
}

/// An owner call, signed by the owner key: its method, path and body all come from the
/// call itself ([`OwnerCall::method`], [`OwnerCall::path`], [`OwnerCall::body`]).
pub async fn owner_call<T: DeserializeOwned>(
    room: &RoomId,
    owner: &IdentityKey,
    call: &OwnerCall,
) -> Result<T, ErrorBody> {
    let path = call.path(room);
    let bytes = call.body();
    let method = match call.method() {
        "GET" => Method::GET,
        "PUT" => Method::PUT,
        _ => Method::POST,
    };
    let builder = sign(RequestBuilder::new(&path).method(method), owner, call.method(), &path, "", &bytes);
    let request = if bytes.is_empty() {
        builder.build()
    } else {
        let text = String::from_utf8(bytes).map_err(|e| ErrorBody::new(ErrorCode::Internal, e.to_string()))?;
        builder.header("content-type", "application/json").body(text)
    }
    .map_err(network_error)?;
    decode(request.send().await.map_err(network_error)?).await
}

/// `POST /api/uploads`: finds the upload of a file (proving the content with its read
/// check), or pays with `token` to become a payer holding `put`.
pub async fn open_upload(
    file: &str,
    size: u64,
    read: &ReadProof,
    put: &PutSecret,
    token: Option<String>,
) -> Result<UploadState, ErrorBody> {
    let body = UploadRequest {
        file: file.to_owned(),
        size,
        read_check: Some(b64(&read.check())),
        put_check: Some(b64(&put.check())),
        token,
    };
    let request = Request::post("/api/uploads").json(&body).map_err(network_error)?;
    decode(request.send().await.map_err(network_error)?).await
}

/// `PUT /api/uploads/{file}/chunks/{index}/{id}`: stores one encrypted chunk, as the payer
/// holding `put`.
pub async fn put_chunk(
    file: &str,
    index: u32,
    id: &str,
    put: &PutSecret,
    bytes: &js_sys::Uint8Array,
) -> Result<UploadState, ErrorBody> {
    let url = format!("/api/uploads/{file}/chunks/{index}/{id}");
    let headers = [("content-type", "application/octet-stream".to_owned()), (PUT_HEADER, put.to_b64())];
    match chunk_sender::put(&url, &headers, bytes).await {
        Sent::Answer { status, body } => decode_body(status, &body),
        Sent::Unreachable(why) => {
            Err(ErrorBody::new(ErrorCode::Unavailable, format!("cannot reach the server: {why}")))
        }
    }
}

/// A read of `path` presenting `access`: the read proof in its header (v2), or the v1
/// verification token as `?v=`.
fn read_request(path: &str, access: &ReadAccess) -> RequestBuilder {
    match access {
        ReadAccess::Proof(read) => Request::get(path).header(READ_HEADER, &read.to_b64()),
        ReadAccess::Verification(v) => Request::get(path).query([("v", v.as_str())]),
    }
}

/// `GET /api/files/{file}`: a stored file's manifest.
pub async fn manifest(file: &str, access: &ReadAccess) -> Result<Manifest, ErrorBody> {
    let request = read_request(&format!("/api/files/{file}"), access);
    decode(request.send().await.map_err(network_error)?).await
}

/// `GET /api/files/{file}/chunks/{index}`: one encrypted chunk.
pub async fn chunk(file: &str, index: u32, access: &ReadAccess) -> Result<js_sys::Uint8Array, ErrorBody> {
    let response =
        read_request(&format!("/api/files/{file}/chunks/{index}"), access).send().await.map_err(network_error)?;
    if !response.ok() {
        return Err(decode::<serde_json::Value>(response)
            .await
            .err()
            .unwrap_or_else(|| ErrorBody::new(ErrorCode::Internal, "unexpected answer")));
    }
    // Straight into a JS buffer for WebCrypto (no round trip through wasm memory).
    let buffer = web_sys::Response::from(response)
        .array_buffer()
        .map_err(|_| ErrorBody::new(ErrorCode::Internal, "unreadable answer"))?;
    let buffer = wasm_bindgen_futures::JsFuture::from(buffer)
        .await
        .map_err(|_| ErrorBody::new(ErrorCode::Unavailable, "cannot reach the server: the download stopped"))?;
    Ok(js_sys::Uint8Array::new(&buffer))
}

/// A storage token out of the room's budget, asked for by a member (signed request).
pub async fn member_token(room: &RoomId, member: &IdentityKey, size: u64) -> Result<IssuedToken, ErrorBody> {
    let path = format!("/api/rooms/{room}/tokens");
    let body = serde_json::json!({ "size": size }).to_string();
    let builder = sign(RequestBuilder::new(&path).method(Method::POST), member, "POST", &path, "", body.as_bytes());
    let request = builder.header("content-type", "application/json").body(body).map_err(network_error)?;
    decode(request.send().await.map_err(network_error)?).await
}
