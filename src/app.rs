//! The app shell: header, navigation, routes, and the state every view shares
//! (contacts, the ticking clock).

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

use crate::pages::landing::LandingPage;
use crate::pages::room::RoomPage;
use crate::pages::rooms::RoomsPage;
use crate::pages::settings::LazySettingsPage;
use crate::pages::sso_return::LazySsoReturnPage;

#[component]
pub fn App() -> impl IntoView {
    if let Err(e) = crate::store::migrate() {
        leptos::logging::error!("{e}");
    }
    crate::contacts::provide();
    crate::clock::provide();
    crate::files::transfers::provide();
    view! {
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <header class="app-header">
                <A href="/" attr:class="brand">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    " Cloakroom"
                </A>
                <nav aria-label="Main">
                    <A href="/rooms">"Rooms"</A>
                    <A href="/settings">"Keys & settings"</A>
                </nav>
            </header>
            <main class="app-main" id="main">
                <Routes fallback=|| view! { <p class="notice">"This page does not exist."</p> }>
                    <Route path=path!("/") view=LandingPage />
                    <Route path=path!("/rooms") view=RoomsPage />
                    <Route path=path!("/settings") view=LazySettingsPage />
                    <Route path=path!("/r/:room") view=RoomPage />
                    <Route path=path!("/sso-return") view=LazySsoReturnPage />
                </Routes>
            </main>
        </Router>
    }
}
