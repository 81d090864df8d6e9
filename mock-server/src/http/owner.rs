//! The owner's HTTP API (`/api/rooms/{room}/owner/{call}`), room restores, and how signed
//! requests and room funding are read from HTTP.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, header};
use futures_util::StreamExt;
use protocol::api::{CreateAuthorization, CreateRoomResponse, OwnerCall, RestoreRequest};
use protocol::error::{ErrorBody, ErrorCode};
use room_core::transfer;

use crate::http::error::ApiError;
use crate::http::extract::{MAX_RESTORE_BODY, funding, parse_room, signed_request, verify_owner_request};
use crate::room_actor::RoomCommand;
use crate::state::AppState;

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
    let call = OwnerCall::from_request(method.as_str(), &name, &body)?;
    let request = Box::new(signed);
    let call = Box::new(call);
    let value = st.rooms.call(&room, false, |reply| RoomCommand::Owner { request, call, reply }).await?;
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
    let Some(request) = signed_request(&st, &headers, &method, &uri, &body)? else {
        return Err(ApiError::new(ErrorCode::Unauthorized, "storage requests must be signed by a member's key"));
    };
    let (request, size) = (Box::new(request), req.size);
    let value = st.rooms.call(&room, false, |reply| RoomCommand::MemberToken { request, size, reply }).await?;
    Ok(Json(value))
}

/// Bytes of a restore body that may precede the end of its `auth` member.
const MAX_AUTH_PREFIX: usize = 4096;

/// What the start of a restore body says so far.
enum Prefix {
    /// `{"auth": <authorisation>` was read.
    Auth(CreateAuthorization),
    /// The bytes so far are a valid beginning; read more.
    NeedMore,
    /// Not a body that starts with its `auth` member.
    Invalid(String),
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Parses one JSON value of type `T` at `bytes[i..]`: the value and the index after it.
fn value_at<T: serde::de::DeserializeOwned>(bytes: &[u8], i: usize) -> Result<Option<(T, usize)>, String> {
    let mut values = serde_json::Deserializer::from_slice(&bytes[i..]).into_iter::<T>();
    match values.next() {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some((v, i + values.byte_offset()))),
        Some(Err(e)) if e.is_eof() => Ok(None),
        Some(Err(e)) => Err(e.to_string()),
    }
}

/// Reads the `auth` member a restore body must begin with (`{"auth": {...}, "backup": …}`).
fn leading_auth(bytes: &[u8]) -> Prefix {
    let i = skip_ws(bytes, 0);
    match bytes.get(i) {
        None => return Prefix::NeedMore,
        Some(b'{') => {}
        Some(_) => return Prefix::Invalid("the body must be a JSON object".into()),
    }
    let i = skip_ws(bytes, i + 1);
    if i >= bytes.len() {
        return Prefix::NeedMore;
    }
    let i = match value_at::<String>(bytes, i) {
        Ok(Some((key, _))) if key != "auth" => {
            return Prefix::Invalid("the body's first member must be \"auth\" (it is checked first)".into());
        }
        Ok(Some((_, end))) => skip_ws(bytes, end),
        Ok(None) => return Prefix::NeedMore,
        Err(e) => return Prefix::Invalid(e),
    };
    match bytes.get(i) {
        None => return Prefix::NeedMore,
        Some(b':') => {}
        Some(_) => return Prefix::Invalid("expected ':' after \"auth\"".into()),
    }
    let i = skip_ws(bytes, i + 1);
    if i >= bytes.len() {
        return Prefix::NeedMore;
    }
    match value_at::<CreateAuthorization>(bytes, i) {
        Ok(Some((auth, _))) => Prefix::Auth(auth),
        Ok(None) => Prefix::NeedMore,
        Err(e) => Prefix::Invalid(format!("invalid auth: {e}")),
    }
}

fn restore_too_large() -> ApiError {
    ApiError(
        ErrorBody::new(ErrorCode::BodyTooLarge, format!("restore bodies are limited to {MAX_RESTORE_BODY} bytes"))
            .with_limit(MAX_RESTORE_BODY as u64),
    )
}

/// `POST /api/rooms/{room}/restore`: imports a backup signed by its owner.
///
/// Cheap checks come first and read as little as possible: the room id, the declared
/// length, then only the body's leading `auth` member (at most [`MAX_AUTH_PREFIX`] bytes)
/// and the authorisation itself (nothing is spent yet), then whether the room exists.
/// Only then does the request take one of the `--max-heavy-requests` permits (`busy`
/// otherwise), read the rest of the body and check every signature.
pub async fn restore(
    State(st): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CreateRoomResponse>, ApiError> {
    let room = parse_room(&room)?;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_RESTORE_BODY as u64) {
        return Err(restore_too_large());
    }
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    let read_error = |e: axum::Error| ApiError::new(ErrorCode::MalformedRequest, format!("cannot read the body: {e}"));
    let auth = loop {
        match leading_auth(&buf) {
            Prefix::Auth(auth) => break auth,
            Prefix::Invalid(why) => return Err(ApiError::new(ErrorCode::MalformedRequest, why)),
            Prefix::NeedMore if buf.len() >= MAX_AUTH_PREFIX => {
                return Err(ApiError::new(
                    ErrorCode::MalformedRequest,
                    format!("the body must begin with its \"auth\" member, within {MAX_AUTH_PREFIX} bytes"),
                ));
            }
            Prefix::NeedMore => match stream.next().await {
                Some(chunk) => buf.extend_from_slice(&chunk.map_err(read_error)?),
                None => return Err(ApiError::new(ErrorCode::MalformedRequest, "the body ends before its auth")),
            },
        }
    };
    let funding = funding(&st, &auth).await?;
    if st.rooms.exists(&room) {
        return Err(ApiError::new(ErrorCode::RoomExists, "a room with this id already exists"));
    }
    let _permit = st.heavy.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(ErrorCode::Busy, "too many restores are running; retry after the Retry-After seconds")
    })?;
    if let Some(n) = declared {
        buf.reserve(usize::try_from(n).unwrap_or(0).saturating_sub(buf.len()));
    }
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(read_error)?;
        if buf.len() + chunk.len() > MAX_RESTORE_BODY {
            return Err(restore_too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    let verifier = st.verifier.clone();
    // Parsing and checking every signature of a large backup is CPU work: off the runtime.
    let request = tokio::task::spawn_blocking(move || -> Result<RestoreRequest, ErrorBody> {
        let request: RestoreRequest = serde_json::from_slice(&buf)
            .map_err(|e| ErrorBody::new(ErrorCode::BadBackup, format!("not a restore request: {e}")))?;
        drop(buf);
        transfer::check_bounds(&request.backup.backup, crate::clock::now())?;
        request.backup.validate(|key, message, sig| verifier.verify(key, message, sig))?;
        Ok(request)
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal, "the backup check failed"))??;
    if request.backup.backup.room != room {
        return Err(ApiError::new(ErrorCode::BadBackup, "the backup is for another room id"));
    }
    let backup = Box::new(request.backup.backup);
    let created = st.rooms.call(&room, true, |reply| RoomCommand::Restore { backup, funding, reply }).await?;
    Ok(Json(created))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_of(text: &str) -> Option<CreateAuthorization> {
        match leading_auth(text.as_bytes()) {
            Prefix::Auth(a) => Some(a),
            _ => None,
        }
    }

    #[test]
    fn the_auth_member_is_read_from_the_start_of_the_body() {
        let admin = CreateAuthorization::AdminSecret { secret: "s".into() };
        assert_eq!(auth_of(r#"{"auth":{"kind":"admin_secret","secret":"s"},"backup":"#), Some(admin.clone()));
        assert_eq!(auth_of(" {\n \"auth\" : {\"kind\":\"admin_secret\",\"secret\":\"s\"} ,"), Some(admin));
        // Every proper prefix asks for more; never a wrong answer.
        let full = r#"{"auth":{"kind":"storage_token","token":"abc"},"backup":{}}"#;
        let end = full.find('}').unwrap() + 1;
        for cut in 0..end {
            assert!(matches!(leading_auth(&full.as_bytes()[..cut]), Prefix::NeedMore), "cut at {cut}");
        }
        assert!(auth_of(&full[..end]).is_some());
        for bad in [r#"{"backup":{},"auth":{}}"#, "[1]", r#"{"auth" 1"#, r#"{"auth":{"kind":"nope"}}"#, "x"] {
            assert!(matches!(leading_auth(bad.as_bytes()), Prefix::Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn serde_writes_auth_first() {
        let text = serde_json::to_string(&RestoreRequest {
            auth: CreateAuthorization::AdminSecret { secret: "s".into() },
            backup: {
                let owner = protocol::identity::IdentityKey::from_secret_bytes(&[1; 32]).unwrap();
                let room = protocol::ids::RoomId::from_owner_key(&owner.public_key());
                protocol::backup::RoomBackup {
                    format: protocol::backup::BACKUP_FORMAT.into(),
                    v: protocol::backup::BACKUP_VERSION,
                    room,
                    owner: owner.public_key(),
                    settings: protocol::backup::BackupSettings {
                        motd: String::new(),
                        locked: false,
                        capacity: 1,
                        epoch: 0,
                        created: 0,
                        signed: None,
                        keep_deleted: false,
                    },
                    members: vec![],
                    wrapped_keys: vec![],
                    messages: vec![],
                    budget: protocol::backup::BackupBudget { total: 0, remaining: 0 },
                    exported_at: 0,
                }
                .sign(&owner)
            },
        })
        .unwrap();
        assert!(text.starts_with(r#"{"auth":"#), "{text}");
        assert!(auth_of(&text).is_some());
    }
}
