//! The app shell: header and routes.

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

use crate::pages::landing::LandingPage;
use crate::pages::room::RoomPage;

#[component]
pub fn App() -> impl IntoView {
    crate::store::ensure_layout();
    view! {
        <Router>
            <header class="app-header">
                <A href="/" attr:class="brand">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    " Cloakroom"
                </A>
            </header>
            <main class="app-main">
                <Routes fallback=|| view! { <p class="notice">"This page does not exist."</p> }>
                    <Route path=path!("/") view=LandingPage />
                    <Route path=path!("/r/:room") view=RoomPage />
                </Routes>
            </main>
        </Router>
    }
}
