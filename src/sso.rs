//! Room authorisations from the organisation's SSO (`docs/SSO.md`), on this device.
//!
//! Signing in: [`start_sign_in`] fetches the server's SSO key set, checks it against the
//! root key `/api/info` names, blinds [`TOKENS_PER_SIGN_IN`] random token messages to the
//! current key, keeps the blinding secrets in this tab's session storage and goes to the
//! SSO with only the blinded messages. The SSO sends the person back to `/sso-return` with
//! blind signatures in the URL fragment; [`finish_sign_in`] unblinds them into tokens
//! (checking each against the key set: an SSO signing with any other key is caught) and
//! keeps them in `localStorage` (`cloakroom.v2.sso_tokens`, also in the keys export).
//! Spending one: [`crate::rooms::create_room`] with [`CreateAuthorization::SsoToken`].

use gloo_storage::{LocalStorage, SessionStorage, Storage};
use protocol::api::CreateAuthorization;
use protocol::error::ErrorCode;
use protocol::sso::{KeptToken, PendingToken, SavedPending, SsoInfo, SsoKeyset};
use serde::{Deserialize, Serialize};

use crate::crypto::random_bytes;
use crate::lazy_part::{PartUnavailable, lazy_part};

/// Tokens asked for per sign-in (the SSO signs as many as the person's quota allows).
/// Asking for several at once and spending them later keeps the sign-in's time apart from
/// each room's creation.
pub const TOKENS_PER_SIGN_IN: usize = 10;
const TOKENS_KEY: &str = "cloakroom.v2.sso_tokens";
const PENDING_KEY: &str = "cloakroom.sso.pending";
const OUTCOME_KEY: &str = "cloakroom.sso.outcome";
/// The page the SSO sends people back to.
pub const RETURN_PATH: &str = "/sso-return";

/// The tokens on this device that are still valid.
pub fn tokens() -> Vec<KeptToken> {
    let now = js_sys::Date::now() as u64;
    let all: Vec<KeptToken> = LocalStorage::get(TOKENS_KEY).unwrap_or_default();
    all.into_iter().filter(|t| t.not_after > now).collect()
}

fn save_tokens(tokens: &[KeptToken]) -> Result<(), String> {
    LocalStorage::set(TOKENS_KEY, tokens).map_err(|e| format!("cannot keep the room authorisations: {e}"))
}

/// Adds tokens (from a sign-in or an import), skipping ones already here.
pub fn add_tokens(new: Vec<KeptToken>) -> Result<usize, String> {
    let mut all = tokens();
    let before = all.len();
    for t in new {
        if !all.iter().any(|k| k.token == t.token) {
            all.push(t);
        }
    }
    save_tokens(&all)?;
    Ok(all.len() - before)
}

/// The authorisation for the next room, if a token is left.
pub fn next_authorization() -> Option<CreateAuthorization> {
    tokens().first().map(|t| CreateAuthorization::SsoToken { token: t.token.clone() })
}

/// After a creation attempt with `auth`: the token is gone once spent, or once the server
/// says it can never be spent (spent elsewhere, unknown, expired, its key at its cap).
pub fn settle(auth: &CreateAuthorization, outcome: Result<(), ErrorCode>) {
    let CreateAuthorization::SsoToken { token } = auth else { return };
    let gone = match outcome {
        Ok(()) => true,
        Err(code) => matches!(
            code,
            ErrorCode::TokenSpent | ErrorCode::TokenUnknown | ErrorCode::TokenExpired | ErrorCode::IssuerCapReached
        ),
    };
    if gone {
        let rest: Vec<KeptToken> = tokens().into_iter().filter(|t| t.token != *token).collect();
        if let Err(e) = save_tokens(&rest) {
            leptos::logging::error!("{e}");
        }
    }
}

async fn verified_keyset(info: &SsoInfo) -> Result<SsoKeyset, String> {
    let response = gloo_net::http::Request::get("/api/sso/keys")
        .send()
        .await
        .map_err(|e| format!("cannot reach the server: {e}"))?;
    if !response.ok() {
        return Err(format!("the server has no SSO key set (HTTP {})", response.status()));
    }
    let bytes = response.binary().await.map_err(|e| format!("cannot read the key set: {e}"))?;
    SsoKeyset::parse_verified(&bytes, &info.root_key).map_err(|e| e.to_string())
}

#[derive(Serialize, Deserialize)]
struct Pending {
    key_id: String,
    tokens: Vec<SavedPending>,
}

/// A sign-in's work, in the part of the app fetched on first use (blind RSA is large, and
/// only people signing in to their organisation's SSO ever run it).
type SignInWork<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T>>>;

#[lazy_part(sso_sign_in, wasm_split_path = ::leptos::wasm_split, fallible)]
fn start_sign_in_part(info: SsoInfo) -> Result<SignInWork<Result<(), String>>, PartUnavailable> {
    Ok(Box::pin(start_sign_in_here(info)))
}

/// Blinds new tokens and goes to the SSO's sign-in. Returns only on failure.
pub async fn start_sign_in(info: SsoInfo) -> Result<(), String> {
    start_sign_in_part(info).await.map_err(|e| e.to_string())?.await
}

async fn start_sign_in_here(info: SsoInfo) -> Result<(), String> {
    let keyset = verified_keyset(&info).await?;
    let now = js_sys::Date::now() as u64;
    let key = keyset.current_key(now).ok_or("the SSO has no valid signing key right now; try again later")?;
    let mut pending = Vec::new();
    for _ in 0..TOKENS_PER_SIGN_IN {
        pending.push(PendingToken::blind(key, random_bytes::<32>()).map_err(|e| e.to_string())?);
    }
    let blinded: Vec<String> = pending.iter().map(PendingToken::blinded).collect();
    let saved = Pending { key_id: key.key_id.clone(), tokens: pending.iter().map(PendingToken::save).collect() };
    SessionStorage::set(PENDING_KEY, &saved).map_err(|e| format!("cannot keep the sign-in in this tab: {e}"))?;
    let window = web_sys::window().ok_or("no window")?;
    let origin = window.location().origin().map_err(|_| "no origin")?;
    let url = format!(
        "{}/login?return={}&key_id={}&blinded={}",
        info.origin,
        js_sys::encode_uri_component(&format!("{origin}{RETURN_PATH}")),
        key.key_id,
        blinded.join(",")
    );
    window.location().assign(&url).map_err(|_| "cannot open the sign-in page".to_owned())
}

/// What a return from the SSO came to, for the create form to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// `added` new tokens; `left` more this month.
    Signed {
        added: usize,
        left: u64,
    },
    Refused {
        code: String,
        message: String,
    },
}

fn fragment_params(fragment: &str) -> std::collections::BTreeMap<String, String> {
    let text = fragment.trim_start_matches('#');
    form_urlencoded::parse(text.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Reads the SSO's answer from `fragment`, unblinds and keeps the tokens. The pending
/// secrets are forgotten whatever happens. Runs in the SSO's part of the app: only its
/// return page (itself in that part) calls it.
pub async fn finish_sign_in(fragment: String, info: SsoInfo) -> Outcome {
    let params = fragment_params(&fragment);
    let pending: Option<Pending> = SessionStorage::get(PENDING_KEY).ok();
    SessionStorage::delete(PENDING_KEY);
    let refused = |code: &str, message: &str| Outcome::Refused { code: code.into(), message: message.into() };
    match params.get("sso").map(String::as_str) {
        Some("ok") => {}
        Some("error") => {
            return refused(params.get("code").map_or("unknown", String::as_str), "refused by the SSO");
        }
        _ => return refused("malformed_request", "the SSO's answer is missing"),
    }
    let Some(pending) = pending else {
        return refused("malformed_request", "this tab did not start a sign-in (or it was finished already)");
    };
    if params.get("key_id") != Some(&pending.key_id) {
        return refused("bad_signature", "the SSO answered for a different key");
    }
    let keyset = match verified_keyset(&info).await {
        Ok(set) => set,
        Err(e) => return refused("unavailable", &e),
    };
    let Some(key) = keyset.keys.iter().find(|k| k.key_id == pending.key_id) else {
        return refused("token_expired", "the SSO's key is no longer in the server's key set");
    };
    let sigs: Vec<&str> = params.get("sigs").map(|s| s.split(',').collect()).unwrap_or_default();
    if sigs.len() > pending.tokens.len() {
        return refused("malformed_request", "the SSO sent more signatures than were asked for");
    }
    let mut kept = Vec::new();
    for (saved, sig) in pending.tokens.iter().zip(sigs) {
        let finished = PendingToken::restore(saved).and_then(|p| p.finish(key, sig));
        match finished {
            Ok(token) => kept.push(KeptToken { token, not_after: key.not_after }),
            Err(e) => return refused("bad_signature", &format!("the SSO's signature was refused: {e}")),
        }
    }
    match add_tokens(kept) {
        Ok(added) => Outcome::Signed { added, left: params.get("left").and_then(|l| l.parse().ok()).unwrap_or(0) },
        Err(e) => refused("internal", &e),
    }
}

/// Keeps the outcome for the create form (shown once).
pub fn put_outcome(outcome: &Outcome) {
    let _ = SessionStorage::set(OUTCOME_KEY, outcome);
}

/// The outcome of the last return from the SSO, once.
pub fn take_outcome() -> Option<Outcome> {
    let outcome = SessionStorage::get(OUTCOME_KEY).ok();
    SessionStorage::delete(OUTCOME_KEY);
    outcome
}

/// The sentence for a refusal `code` from the SSO (or the server). Only the code is used:
/// anyone can send a person to `/sso-return` with words of their choosing in the
/// fragment, so no text from it is ever shown.
pub fn explain(code: &str) -> String {
    match code {
        "forbidden" => "Your organisation's sign-in worked, but your account may not create rooms.".into(),
        "unauthorized" => "The sign-in did not complete (cancelled, or it could not be verified). Try again.".into(),
        "token_spent" => "That room authorisation was used already. Create the room again to use the next one.".into(),
        "bad_signature" => {
            "The SSO's answer did not check out against this server's keys, so nothing was kept. Try again.".into()
        }
        "token_unknown" => {
            "That room authorisation is not one this server accepts. Create the room again to use the next one.".into()
        }
        _ => match serde_json::from_value::<ErrorCode>(serde_json::Value::String(code.to_owned())) {
            Ok(code) => crate::net::explain::sentence(code).to_owned(),
            Err(_) => "The sign-in with your organisation failed. Try again.".into(),
        },
    }
}
