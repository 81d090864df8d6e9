//! The SSO's three routes. Everything a person carries back to the Cloakroom page goes in
//! the URL fragment of the return page (`#sso=ok&key_id=…&sigs=…&left=N` or
//! `#sso=error&code=…&message=…`): browsers never send fragments to servers, so the blind
//! signatures never appear in any log, and the page removes them from the address bar.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use protocol::encoding::unb64;
use protocol::error::ErrorCode;
use protocol::sso::{MAX_TOKENS_PER_ISSUE, SIGNATURE_BYTES};
use serde::Deserialize;

use crate::config::SsoConfig;
use crate::oidc::Provider;
use crate::store::{LOGIN_TTL_MS, LoginRecord, Store};

pub struct Inner {
    pub config: SsoConfig,
    pub provider: Provider,
    pub store: Store,
}

#[derive(Clone)]
pub struct SsoState(pub Arc<Inner>);

pub fn router(state: SsoState) -> Router {
    Router::new()
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `YYYY-MM` (UTC) of `ms` since the Unix epoch: the quota's period.
pub fn month_of(ms: u64) -> String {
    // H. Hinnant's civil_from_days.
    let z = (ms / 86_400_000) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}")
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => no_store((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()),
        Err(_) => page(StatusCode::INTERNAL_SERVER_ERROR, "Cannot send you back: the address is not valid."),
    }
}

/// A plain page for what cannot be sent back (no return page known).
fn page(status: StatusCode, text: &str) -> Response {
    no_store((status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text.to_owned()).into_response())
}

fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Back to the page with a typed refusal.
fn refuse(return_to: &str, code: ErrorCode, message: &str) -> Response {
    tracing::info!(%code, "sign-in refused");
    redirect(&format!("{return_to}#sso=error&code={code}&message={}", form_encode(message)))
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(rename = "return")]
    return_to: String,
    key_id: String,
    blinded: String,
}

/// `GET /login?return=<page>&key_id=<key>&blinded=<b64>,<b64>,…`
async fn login(State(st): State<SsoState>, Query(q): Query<LoginQuery>) -> Response {
    let st = &st.0;
    if !st.config.allow_returns.contains(&q.return_to) {
        return page(StatusCode::BAD_REQUEST, "This SSO does not send people back to that page.");
    }
    let now = now_ms();
    let current = st.config.keyset.current_key(now).map(|k| k.key_id.as_str());
    if current != Some(q.key_id.as_str()) || !st.config.issuers.contains_key(&q.key_id) {
        return refuse(
            &q.return_to,
            ErrorCode::TokenExpired,
            "the SSO's signing key changed: reload the page and sign in again",
        );
    }
    let blinded: Vec<String> = q.blinded.split(',').map(str::to_owned).collect();
    let well_formed = blinded.iter().all(|b| unb64(b).is_ok_and(|v| v.len() == SIGNATURE_BYTES));
    if blinded.is_empty() || blinded.len() > MAX_TOKENS_PER_ISSUE || !well_formed {
        return refuse(
            &q.return_to,
            ErrorCode::MalformedRequest,
            &format!("a sign-in carries 1 to {MAX_TOKENS_PER_ISSUE} blinded tokens of {SIGNATURE_BYTES} bytes"),
        );
    }
    let started = st.provider.start();
    let record = LoginRecord {
        nonce: started.nonce,
        pkce_verifier: started.pkce_verifier,
        return_to: q.return_to.clone(),
        key_id: q.key_id,
        blinded,
        expires: now + LOGIN_TTL_MS,
    };
    if let Err(e) = st.store.put_login(&started.state, &record, now) {
        tracing::error!("{e}");
        return refuse(&q.return_to, ErrorCode::Unavailable, "the SSO cannot save the sign-in; try again later");
    }
    redirect(&started.url)
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// `GET /callback?code=…&state=…` (or `?error=…&state=…`), from the provider.
async fn callback(State(st): State<SsoState>, Query(q): Query<CallbackQuery>) -> Response {
    let st = &st.0;
    let now = now_ms();
    let record = match q.state.as_deref().map(|s| st.store.take_login(s, now)) {
        Some(Ok(Some(record))) => record,
        Some(Err(e)) => {
            tracing::error!("{e}");
            return page(StatusCode::SERVICE_UNAVAILABLE, "The SSO cannot read the sign-in; go back and try again.");
        }
        _ => return page(StatusCode::BAD_REQUEST, "This sign-in expired or was used already: go back and try again."),
    };
    let back = record.return_to.as_str();
    if let Some(error) = q.error {
        let why = if error == "access_denied" { "you cancelled the sign-in" } else { "the sign-in did not complete" };
        return refuse(back, ErrorCode::Unauthorized, &format!("{why} ({error})"));
    }
    let Some(code) = q.code else {
        return refuse(back, ErrorCode::Unauthorized, "the provider sent no code");
    };
    let person = match st.provider.finish(&code, &record.pkce_verifier, &record.nonce).await {
        Ok(person) => person,
        Err(e) => {
            tracing::warn!("{e}");
            return refuse(back, ErrorCode::Unauthorized, "the sign-in could not be verified");
        }
    };
    let quota = st.config.quota_for(&person.groups);
    if quota == 0 {
        return refuse(back, ErrorCode::Forbidden, "your account is not in a group that may create rooms");
    }
    let account = st.store.account(&person.issuer, &person.subject);
    let (granted, left) = match st.store.reserve(&month_of(now), &account, quota, record.blinded.len() as u64) {
        Ok(counts) => counts,
        Err(e) => {
            tracing::error!("{e}");
            return refuse(back, ErrorCode::Unavailable, "the SSO cannot count your quota; try again later");
        }
    };
    if granted == 0 {
        return refuse(
            back,
            ErrorCode::QuotaExhausted,
            &format!("you have used all {quota} room authorisations for this month"),
        );
    }
    let Some(issuer) = st.config.issuers.get(&record.key_id) else {
        return refuse(back, ErrorCode::TokenExpired, "the SSO's signing key changed: sign in again");
    };
    let mut sigs = Vec::new();
    for blinded in record.blinded.iter().take(granted as usize) {
        match issuer.blind_sign(blinded) {
            Ok(sig) => sigs.push(sig),
            Err(e) => return refuse(back, ErrorCode::MalformedRequest, &e.to_string()),
        }
    }
    tracing::info!(granted, "room tokens signed");
    redirect(&format!("{back}#sso=ok&key_id={}&sigs={}&left={left}", record.key_id, sigs.join(",")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(super::month_of(0), "1970-01");
        assert_eq!(super::month_of(1_798_761_600_000), "2027-01");
        assert_eq!(super::month_of(1_798_761_600_000 - 1), "2026-12");
        assert_eq!(super::month_of(951_782_400_000), "2000-02-29".get(..7).unwrap());
    }
}
