//! The page a browser that refuses to store anything gets instead of the app: what is
//! wrong, in plain words, and what to do. Cloakroom keeps room keys and identities only
//! in the browser, so without storage it could show a room once and lose the keys on the
//! next reload; refusing to start is the honest answer.

use leptos::prelude::*;

use crate::store::StorageRefused;

/// Why, for the person.
fn explanation(why: StorageRefused) -> &'static str {
    match why {
        StorageRefused::Blocked => {
            "This browser does not let this site keep any data, so Cloakroom cannot keep your room keys. \
             This happens when cookies and site data are blocked for this site, and in some private windows."
        }
        StorageRefused::NoRoom => {
            "This browser refused to let Cloakroom save even a few bytes: its storage for this site is full, \
             or this private window allows none."
        }
    }
}

#[component]
pub fn StorageRefusedPage(why: StorageRefused) -> impl IntoView {
    view! {
        <main class="app-main" id="main">
            <section class="card storage-refused" role="alert" aria-labelledby="storage-refused-heading">
                <h1 id="storage-refused-heading">"Cloakroom cannot store anything in this browser"</h1>
                <p id="storage-refused-why">{explanation(why)}</p>
                <p>"To use Cloakroom here:"</p>
                <ul>
                    <li>"allow cookies and site data for this site in the browser's settings, then reload;"</li>
                    <li>"or open this link in a normal (not private) window, or in another browser."</li>
                </ul>
                <p class="hint">
                    "If you already use Cloakroom in another browser, export your keys there (Keys & settings) \
                     and import the file here once storage is allowed."
                </p>
            </section>
        </main>
    }
}
