//! Builds the HTTP router: the worker API under `/api`, room WebSockets at `/ws/{room}`,
//! the built SPA everywhere else.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{any, get, post, put};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::csp::ContentSecurityPolicy;
use crate::http::{api, assets, extract, objects, owner, ws};
use crate::state::AppState;

/// A 408 after `secs` (the request must have arrived and been answered by then).
fn timeout(secs: u64) -> tower_http::timeout::TimeoutLayer {
    tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(secs))
}

pub fn router(state: AppState) -> Router {
    let config = &state.config;
    // Requests that carry big bodies get the long timeout; every other call the short one.
    let uploads = Router::new()
        .route(
            "/uploads/{file}/chunks/{index}/{id}",
            put(objects::put_chunk).layer(DefaultBodyLimit::max(extract::MAX_CHUNK_BODY)),
        )
        .route("/rooms/{room}/restore", post(owner::restore).layer(DefaultBodyLimit::max(extract::MAX_RESTORE_BODY)))
        .layer(timeout(config.upload_timeout_secs));
    let api = Router::new()
        .route("/info", get(api::info))
        .route("/sso/keys", get(api::sso_keys))
        .route("/rooms", post(api::create_room))
        .route("/rooms/{room}/history", get(api::history))
        .route("/last-message-times", post(api::last_message_times))
        .route("/rooms/{room}/owner/{call}", any(owner::owner).layer(DefaultBodyLimit::max(extract::MAX_OWNER_BODY)))
        .route("/rooms/{room}/tokens", post(owner::member_token))
        .route("/uploads", post(objects::open_upload))
        .route("/files/{file}", get(objects::manifest))
        .route("/files/{file}/chunks/{index}", get(objects::chunk))
        .fallback(any(api::not_found))
        .layer(timeout(config.request_timeout_secs))
        .merge(uploads)
        .layer(DefaultBodyLimit::max(extract::MAX_API_BODY))
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    let csp = Arc::new(ContentSecurityPolicy::new(
        config.static_dir.as_ref().map(|d| d.join("index.html")),
        config.csp_report_uri.clone(),
    ));
    let mut app = Router::new()
        .nest("/api", api)
        .route("/ws/{room}", get(ws::upgrade).layer(timeout(config.request_timeout_secs)));
    if let Some(dir) = &config.static_dir {
        // (A timeout covers a handler until its response starts, not a slow download of
        // the response body, so static files need none.)
        app = app.fallback_service(assets::spa(dir));
    }
    app.layer(axum::middleware::map_response(move |mut response: Response| {
        let policy = csp.header_for(&response);
        async move {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
            response
        }
    }))
    .layer(SetResponseHeaderLayer::overriding(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ))
    .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
    .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
    .with_state(state)
}
