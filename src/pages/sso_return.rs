//! `/sso-return`: where the SSO sends a person back after signing in. The answer is in
//! the URL fragment; it is removed from the address bar (and history) at once, turned
//! into room authorisations ([`crate::sso::finish_sign_in`]), and the person goes on to
//! the create form, which says what happened.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use crate::lazy_part::{LazyView, PartUnavailable, lazy_part};

/// The page, in the SSO sign-in's part of the app (fetched when a person comes back).
#[component]
pub fn LazySsoReturnPage() -> impl IntoView {
    view! { <LazyView load=sso_return_page_part what="the sign-in" /> }
}

#[lazy_part(sso_sign_in, wasm_split_path = ::leptos::wasm_split, fallible)]
fn sso_return_page_part() -> Result<AnyView, PartUnavailable> {
    Ok(view! { <SsoReturnPage /> }.into_any())
}

#[component]
pub fn SsoReturnPage() -> impl IntoView {
    let navigate = use_navigate();
    let fragment = web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default();
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(crate::sso::RETURN_PATH));
    }
    spawn_local(async move {
        let outcome = match crate::net::api::info().await {
            Ok(info) => match info.sso {
                Some(sso) => crate::sso::finish_sign_in(fragment, sso).await,
                None => crate::sso::Outcome::Refused {
                    code: "not_found".into(),
                    message: "this server accepts no SSO authorisations".into(),
                },
            },
            Err(e) => crate::sso::Outcome::Refused { code: e.code.to_string(), message: e.message },
        };
        crate::sso::put_outcome(&outcome);
        navigate("/#create-heading", NavigateOptions { replace: true, ..Default::default() });
    });
    view! { <p class="notice" role="status">"Finishing the sign-in…"</p> }
}
