//! The "create a room" form: authorised by the server's admin secret, funded by a
//! storage token another room's owner issued, or by a room authorisation from the
//! organisation's SSO (when the server names one; [`crate::sso`]).

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use crate::rooms::{self, Funding};

#[component]
pub fn CreateRoomForm() -> impl IntoView {
    let alias = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let funding = RwSignal::new(Funding::AdminSecret);
    let error = RwSignal::new(None::<String>);
    let status = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // The SSO this server accepts authorisations from, if any.
    let sso = LocalResource::new(|| async { crate::net::api::info().await.ok().and_then(|i| i.sso) });
    let sso_tokens = RwSignal::new(crate::sso::tokens().len());
    let sso_name = move || sso.get().flatten().map(|s| s.name).unwrap_or_default();
    // Back from the SSO: say what happened, with the SSO chosen.
    if let Some(outcome) = crate::sso::take_outcome() {
        funding.set(Funding::Sso);
        match outcome {
            crate::sso::Outcome::Signed { added, left } => status.set(Some(format!(
                "Signed in: {added} new room authorisation{} on this device ({left} more available this month).",
                if added == 1 { "" } else { "s" }
            ))),
            crate::sso::Outcome::Refused { code, .. } => error.set(Some(crate::sso::explain(&code))),
        }
    }
    let sign_in = move |_| {
        let Some(info) = sso.get().flatten() else { return };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            if let Err(e) = crate::sso::start_sign_in(info).await {
                error.set(Some(e));
                busy.set(false);
            }
        });
    };
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let auth = match rooms::authorization(funding.get_untracked(), &secret.get_untracked()) {
            Ok(auth) => auth,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match rooms::create_room(&alias.get_untracked(), auth, &name.get_untracked()).await {
                Ok(record) => {
                    let link = crate::invite_link::invite_link(&record, None).unwrap_or_default();
                    let path = link.split_once("/r/").map(|(_, p)| format!("/r/{p}")).unwrap_or_default();
                    navigate(&path, NavigateOptions::default());
                }
                Err(e) => error.set(Some(e)),
            }
            sso_tokens.set(crate::sso::tokens().len());
            busy.set(false);
        });
    };
    view! {
        <form class="card" on:submit=submit aria-labelledby="create-heading">
            <h2 id="create-heading">"Create a room"</h2>
            <p class="hint">"Your keys are made here, in this browser. The server only learns the room's public id."</p>
            <label for="create-alias">"Your name in the room"</label>
            <input id="create-alias" type="text" autocomplete="nickname" maxlength="40" required
                prop:value=move || alias.get()
                on:input=move |ev| alias.set(event_target_value(&ev)) />
            <label for="create-name">"Room name (optional; everyone you invite sees it, the server cannot)"</label>
            <input id="create-name" type="text" maxlength="100"
                prop:value=move || name.get()
                on:input=move |ev| name.set(event_target_value(&ev)) />
            <fieldset class="choice">
                <legend>"Paid for with"</legend>
                <label>
                    <input id="fund-secret" type="radio" name="funding"
                        prop:checked=move || funding.get() == Funding::AdminSecret
                        on:change=move |_| funding.set(Funding::AdminSecret) />
                    "the server's admin secret"
                </label>
                <label>
                    <input id="fund-token" type="radio" name="funding"
                        prop:checked=move || funding.get() == Funding::StorageToken
                        on:change=move |_| funding.set(Funding::StorageToken) />
                    "a storage token"
                </label>
                {move || sso.get().flatten().map(|info| view! {
                    <label>
                        <input id="fund-sso" type="radio" name="funding"
                            prop:checked=move || funding.get() == Funding::Sso
                            on:change=move |_| funding.set(Funding::Sso) />
                        {format!("an authorisation from {}", info.name)}
                    </label>
                })}
            </fieldset>
            {move || (funding.get() != Funding::Sso).then(|| view! {
                <label for="create-secret">{move || match funding.get() {
                    Funding::StorageToken => "Storage token",
                    _ => "Server admin secret",
                }}</label>
                {move || (funding.get() == Funding::StorageToken).then(|| view! {
                    <p class="hint">"A room's owner issues tokens in its admin panel; the token's value becomes this room's storage budget, and it works once."</p>
                })}
                <input id="create-secret" type="password" autocomplete="off" required
                    prop:value=move || secret.get()
                    on:input=move |ev| secret.set(event_target_value(&ev)) />
            })}
            {move || (funding.get() == Funding::Sso).then(|| view! {
                <p id="sso-count" class="hint">{move || match sso_tokens.get() {
                    0 => format!("No room authorisation on this device yet: sign in with {} to get some.", sso_name()),
                    1 => "1 room authorisation on this device.".to_owned(),
                    n => format!("{n} room authorisations on this device."),
                }}</p>
                <p class="hint">"Your organisation vouches for you without learning which rooms you create, and this server never learns who you are."</p>
                <button id="sso-sign-in" type="button" on:click=sign_in disabled=move || busy.get()>
                    {move || format!("Sign in with {}", sso_name())}
                </button>
            })}
            <p id="create-status" class="status" role="status">{move || status.get()}</p>
            <p class="error" role="alert">{move || error.get()}</p>
            <button id="create-room" type="submit" class="primary" disabled=move || busy.get()>
                {move || if busy.get() { "Creating…" } else { "Create room" }}
            </button>
        </form>
    }
}
