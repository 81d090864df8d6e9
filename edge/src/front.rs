//! The non-addressable Worker: every request arrives here first. It answers what needs
//! no room (`/api/info`, `last-message-times`, the SPA's files with their security
//! headers), refuses what no room should see (bad room ids, foreign Origins), and forwards
//! each room's calls and sockets to that room's Durable Object ([`crate::room_object`]).

use std::cell::RefCell;
use std::collections::BTreeMap;

use protocol::api::{CreateRoomRequest, InfoResponse, LastMessageTimesRequest, LastMessageTimesResponse};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::ids::{MessageKey, RoomId};
use protocol::limits::MAX_ROOMS_PER_QUERY;
use protocol::object_proofs::PUT_HEADER;
use protocol::objects::{Manifest, UploadRequest};
use room_core::effects::Refusal;
use worker::{Context, Env, Headers, Method, Request, RequestInit, Response, Result, WebSocketPair, event};

use crate::answer::{MAX_API_BODY, harden, json, read_body, refusal, refuse};
use crate::runtime::{now, setting};
use crate::uploads_object;

thread_local! {
    /// The page's policy (with the hashes of the built `index.html`'s inline scripts),
    /// computed once per isolate: a deploy replaces the isolate with the assets.
    static PAGE_POLICY: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The `report-uri` of the policy, if `CSP_REPORT_URI` names a valid one.
fn report_uri(env: &Env) -> Option<String> {
    setting(env, "CSP_REPORT_URI").filter(|u| !u.is_empty()).and_then(|u| api_core::csp::parse_report_uri(&u).ok())
}

async fn page_policy(env: &Env, url: &worker::Url) -> Result<String> {
    if let Some(policy) = PAGE_POLICY.with(|p| p.borrow().clone()) {
        return Ok(policy);
    }
    let mut index = url.clone();
    index.set_path("/index.html");
    index.set_query(None);
    let html = env.assets("ASSETS")?.fetch(index.to_string(), None).await?.text().await?;
    let policy = api_core::csp::policy_for(&html, report_uri(env).as_deref());
    PAGE_POLICY.with(|p| *p.borrow_mut() = Some(policy.clone()));
    Ok(policy)
}

fn strict_policy(env: &Env) -> String {
    api_core::csp::policy_for("", report_uri(env).as_deref())
}

/// The origins whose pages may open sockets: `PUBLIC_ORIGINS` (this deployment's own,
/// comma-separated) or, without it, the origin requests arrive at (on Cloudflare a
/// request reaches the Worker only for host names routed to it, so that origin is its
/// own), plus `ALLOW_ORIGINS`.
fn allowed_origins(env: &Env, url: &worker::Url) -> Vec<String> {
    let list = |name: &str| -> Vec<String> {
        setting(env, name)
            .unwrap_or_default()
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect()
    };
    let mut origins = list("PUBLIC_ORIGINS");
    if origins.is_empty() {
        origins.push(url.origin().ascii_serialization());
    }
    origins.extend(list("ALLOW_ORIGINS"));
    origins
}

fn room_stub(env: &Env, room: &RoomId) -> Result<worker::Stub> {
    env.durable_object("ROOM")?.id_from_name(room.as_str())?.get_stub()
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let path = req.path();
    if path.starts_with("/ws/") {
        return websocket(req, &env).await;
    }
    if path == "/api" || path.starts_with("/api/") {
        let answer = api(req, &env).await?;
        return harden(answer, &strict_policy(&env));
    }
    let url = req.url()?;
    let file = env.assets("ASSETS")?.fetch_request(req).await?;
    let html = file.headers().get("content-type")?.is_some_and(|t| t.starts_with("text/html"));
    let policy = if html || file.status_code() == 304 { page_policy(&env, &url).await? } else { strict_policy(&env) };
    harden(file, &policy)
}

async fn api(mut req: Request, env: &Env) -> Result<Response> {
    let path = req.path();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method(), parts.as_slice()) {
        (Method::Get, ["api", "info"]) => json(&InfoResponse {
            name: "cloakroom edge".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            protocol: protocol::PROTOCOL_VERSION,
            limits: crate::room_object::limits(env),
            sso: crate::sso::configured(env).map(|(info, _)| info),
            calls: call_settings(env),
        }),
        (Method::Get, ["api", "ledger", "export"]) => {
            // The operator's: the admin secret, compared in constant time, a failure
            // answered after the same delay as a creation's.
            let expected = setting(env, "ADMIN_SECRET").unwrap_or_default();
            let given = req.headers().get(api_core::ledger::ADMIN_HEADER)?.unwrap_or_default();
            if expected.is_empty() || !api_core::secret::secrets_match(&given, &expected) {
                let delay = std::time::Duration::from_millis(crate::room_object::AUTH_FAILURE_DELAY_MS);
                worker::Delay::from(delay).await;
                return refuse(ErrorCode::Unauthorized, "the admin secret is wrong");
            }
            match crate::ledger_object::export(env).await {
                Ok(export) => json(&export),
                Err(e) => refusal(e),
            }
        }
        (Method::Get, ["api", "sso", "keys"]) => match crate::sso::configured(env) {
            Some((_, keyset)) => json(&keyset),
            None => refuse(ErrorCode::NotFound, "this server accepts no SSO tokens"),
        },
        (Method::Post, ["api", "rooms"]) => {
            // The room id is in the body: read it here, forward the same bytes.
            let (create, forwarded) = match read_json_to_forward::<CreateRoomRequest>(&mut req).await? {
                Ok(read) => read,
                Err(e) => return refusal(e),
            };
            room_stub(env, &create.room)?.fetch_with_request(forwarded).await
        }
        (Method::Post, ["api", "uploads"]) => {
            let (open, forwarded) = match read_json_to_forward::<UploadRequest>(&mut req).await? {
                Ok(read) => read,
                Err(e) => return refusal(e),
            };
            // The read check first, here: a request without it never reaches a shard.
            if let Err(e) = api_core::uploads::check_request(&open.file, open.size, open.read_check.as_deref()) {
                return refusal(e);
            }
            uploads_object::stub(env, &open.file)?.fetch_with_request(forwarded).await
        }
        (Method::Put, ["api", "uploads", file, "chunks", _, _]) => {
            // Without a put secret nothing is read or looked at.
            let secret = req.headers().get(PUT_HEADER)?;
            if let Err(e) = api_core::uploads::put_check_of(secret.as_deref()) {
                return refusal(e);
            }
            let stub = uploads_object::stub(env, file)?;
            match read_to_forward(&mut req, api_core::uploads::MAX_OBJECT_BYTES as usize).await? {
                Ok((_, forwarded)) => stub.fetch_with_request(forwarded).await,
                Err(e) => refusal(e),
            }
        }
        (Method::Get, ["api", "files", file]) => {
            let started = now();
            let stub = uploads_object::stub(env, file)?;
            floored(started, stub.fetch_with_request(req).await).await
        }
        (Method::Get, ["api", "files", file, "chunks", index]) => {
            let started = now();
            let answer = chunk(env, req, file, index).await;
            floored(started, answer).await
        }
        (Method::Post, ["api", "last-message-times"]) => last_message_times(req, env).await,
        (Method::Post, ["api", "rooms", _, "restore"]) => refuse(
            ErrorCode::Unavailable,
            "this server restores in pages (a request is limited to 100 MB here): POST …/restore/begin, …/pages, …/finish",
        ),
        (method, ["api", "rooms", room, ..]) => match RoomId::parse(room) {
            Ok(room) if method == Method::Get => room_stub(env, &room)?.fetch_with_request(req).await,
            // The body is read here (at most the largest any room call takes; each call
            // checks its own limit) and its bytes forwarded: an object must not be handed
            // a stream it may leave unread.
            Ok(room) => match read_to_forward(&mut req, MAX_ROOM_CALL_BODY).await? {
                Ok((_, forwarded)) => room_stub(env, &room)?.fetch_with_request(forwarded).await,
                Err(e) => refusal(e),
            },
            Err(e) => refuse(ErrorCode::UnknownRoom, e.to_string()),
        },
        _ => refuse(ErrorCode::NotFound, "no such API endpoint"),
    }
}

/// The STUN/TURN servers calls use: `ICE_SERVERS` (comma-separated URLs),
/// `ICE_USERNAME`, `ICE_CREDENTIAL`, and `ICE_RELAY_ONLY = "true"`, as mock-server's
/// `--ice-*` flags.
fn call_settings(env: &Env) -> protocol::api::CallSettings {
    let urls: Vec<String> = setting(env, "ICE_SERVERS")
        .unwrap_or_default()
        .split(',')
        .map(|u| u.trim().to_owned())
        .filter(|u| ["stun:", "stuns:", "turn:", "turns:"].iter().any(|s| u.starts_with(s)))
        .collect();
    let ice_servers = if urls.is_empty() {
        Vec::new()
    } else {
        let nonempty = |name: &str| setting(env, name).filter(|v| !v.is_empty());
        vec![protocol::api::IceServer {
            urls,
            username: nonempty("ICE_USERNAME"),
            credential: nonempty("ICE_CREDENTIAL"),
        }]
    };
    let relay_only = !ice_servers.is_empty() && setting(env, "ICE_RELAY_ONLY").is_some_and(|v| v == "true");
    protocol::api::CallSettings { ice_servers, relay_only }
}

/// A body of at most `limit` bytes, and a request carrying the same bytes to forward (a
/// body can be read only once, and an object must not be handed a stream it may leave
/// unread).
async fn read_to_forward(
    req: &mut Request,
    limit: usize,
) -> Result<std::result::Result<(Vec<u8>, Request), ErrorBody>> {
    let body = match read_body(req, limit).await? {
        Ok(body) => body,
        Err(e) => return Ok(Err(e)),
    };
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        headers.append(&name, &value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(headers)
        .with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    let forwarded = Request::new_with_init(req.url()?.as_str(), &init)?;
    Ok(Ok((body, forwarded)))
}

/// A JSON body of at most [`MAX_API_BODY`] bytes, parsed, and a request to forward.
async fn read_json_to_forward<T: serde::de::DeserializeOwned>(
    req: &mut Request,
) -> Result<std::result::Result<(T, Request), ErrorBody>> {
    Ok(match read_to_forward(req, MAX_API_BODY).await? {
        Ok((body, forwarded)) => match serde_json::from_slice(&body) {
            Ok(parsed) => Ok((parsed, forwarded)),
            Err(e) => Err(ErrorBody::new(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}"))),
        },
        Err(e) => Err(e),
    })
}

/// The largest body any room call takes: a page of a paged restore.
const MAX_ROOM_CALL_BODY: usize = protocol::api::MAX_RESTORE_PAGE_BYTES as usize;

/// Every read of the document store answers after at least this long, found or not (no
/// timing oracle), as on mock-server.
const READ_FLOOR_MS: u64 = 25;

async fn floored(started: room_core::UnixMicros, answer: Result<Response>) -> Result<Response> {
    let spent_ms = now().0.saturating_sub(started.0) / 1000;
    if spent_ms < READ_FLOOR_MS {
        worker::Delay::from(std::time::Duration::from_millis(READ_FLOOR_MS - spent_ms)).await;
    }
    answer
}

/// `GET /api/files/{file}/chunks/{index}`: the file's object checks the read proof and
/// answers with the manifest (the same request, the same proof); the bytes come from R2.
async fn chunk(env: &Env, req: Request, file: &str, index: &str) -> Result<Response> {
    let mut manifest = uploads_object::stub(env, file)?.fetch_with_request(req).await?;
    if manifest.status_code() != 200 {
        return Ok(manifest);
    }
    let manifest: Manifest = manifest.json().await?;
    let Some(id) = index.parse::<usize>().ok().and_then(|i| manifest.chunks.get(i)) else {
        return refusal(api_core::uploads::no_such_file());
    };
    match env.bucket(uploads_object::CHUNKS)?.get(id.as_str()).execute().await? {
        Some(object) => {
            let bytes = match object.body() {
                Some(body) => body.bytes().await?,
                None => return refusal(api_core::uploads::no_such_file()),
            };
            let mut response = Response::from_bytes(bytes)?;
            response.headers_mut().set("content-type", "application/octet-stream")?;
            Ok(response)
        }
        None => {
            worker::console_error!("chunk {id} of a complete file is missing from R2");
            refusal(api_core::uploads::no_such_file())
        }
    }
}

/// `POST /api/last-message-times`: each room's newest message key from KV_global (Workers
/// KV, [`crate::latest_index`]; at most [`MAX_ROOMS_PER_QUERY`], read in parallel). No
/// room object is woken; the values may lag the rooms (the client keeps the larger).
async fn last_message_times(mut req: Request, env: &Env) -> Result<Response> {
    let body = match read_body(&mut req, MAX_API_BODY).await? {
        Ok(body) => body,
        Err(e) => return refusal(e),
    };
    let query: LastMessageTimesRequest = match serde_json::from_slice(&body) {
        Ok(q) => q,
        Err(e) => return refuse(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}")),
    };
    if query.rooms.len() > MAX_ROOMS_PER_QUERY {
        return refusal(
            ErrorBody::new(ErrorCode::BadLimit, format!("at most {MAX_ROOMS_PER_QUERY} rooms per query"))
                .with_limit(MAX_ROOMS_PER_QUERY as u64),
        );
    }
    let reads = query.rooms.iter().map(|room| async move {
        let stored = crate::latest_index::read(env, room.as_str()).await?;
        // A value that is not a key of this room is ignored, never passed on.
        let latest = stored.and_then(|k| MessageKey::parse(&k).ok()).filter(|k| k.as_str().starts_with(room.as_str()));
        Ok::<_, worker::Error>((room.clone(), latest))
    });
    let mut rooms = BTreeMap::new();
    for answer in futures_util::future::join_all(reads).await {
        match answer {
            Ok((room, latest)) => {
                rooms.insert(room, latest);
            }
            Err(e) => {
                worker::console_error!("KV_global did not answer: {e}");
                return refuse(ErrorCode::Unavailable, "the message index did not answer; try again");
            }
        }
    }
    json(&LastMessageTimesResponse { rooms })
}

/// `GET /ws/{room}`: the Origin check, then the room's object takes the socket.
async fn websocket(req: Request, env: &Env) -> Result<Response> {
    let url = req.url()?;
    let upgrade = req.headers().get("upgrade")?.is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return harden(
            refuse(ErrorCode::MalformedRequest, "this endpoint takes WebSocket upgrades only")?,
            &strict_policy(env),
        );
    }
    let allowed = allowed_origins(env, &url);
    let origins: Vec<String> = req.headers().get("origin")?.into_iter().collect();
    // Headers joins repeated values with ", ": two Origins are one value with a comma.
    let two = origins.iter().any(|o| o.contains(','));
    if two || !api_core::origin::origin_allowed(origins.iter().map(|o| Some(o.as_str())), &allowed) {
        return harden(
            refuse(ErrorCode::OriginNotAllowed, "WebSockets from this origin are not allowed")?,
            &strict_policy(env),
        );
    }
    let room = url.path().trim_start_matches("/ws/").to_owned();
    match RoomId::parse(&room) {
        Ok(room) => room_stub(env, &room)?.fetch_with_request(req).await,
        Err(e) => {
            // Like mock-server: upgrade, say why in an error frame, close.
            let pair = WebSocketPair::new()?;
            pair.server.accept()?;
            let refusal = Refusal::closing(ErrorBody::new(ErrorCode::UnknownRoom, e.to_string()), 4400);
            let _ = pair.server.send_with_str(&*refusal.frame);
            let (code, reason) = refusal.close.unwrap_or((4400, "unknown_room"));
            let _ = pair.server.close(Some(code), Some(reason));
            Response::from_websocket(pair.client)
        }
    }
}
