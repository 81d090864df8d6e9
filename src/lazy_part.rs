//! Parts of the app whose code is fetched the first time they are used, so a first visit
//! downloads only what the first screens need.
//!
//! A function marked with [`lazy_part`]'s attribute (`wasm_split` from Leptos's
//! `wasm_split_helpers`, with `fallible`) is a split point: `scripts/split-wasm` moves the
//! code only it reaches into a module of its own, and calling it first fetches that module.
//! The functions return `Result<_, PartUnavailable>`: a part that cannot be fetched (the
//! network is down and the service worker has not cached it yet) is an error the view
//! shows, never a panic, which would stop the whole app. A failed fetch is not kept: the
//! next call tries again.
//!
//! ```ignore
//! #[lazy_part(owner_tools, wasm_split_path = ::leptos::wasm_split, fallible)]
//! fn owner_tools(session: RoomSession) -> Result<AnyView, PartUnavailable> { … }
//! ```
//!
//! A part's body must not call another split point (call the function inside it
//! directly, or put both in one part by giving them the same name): the test binaries are
//! not split, and keep every part's body, so a nested call would leave them an import
//! from the split's placeholder module, which no browser can load.
//!
//! [`LazyView`] shows such a view part, with a line while it loads and a "Try again" if it
//! could not be fetched.

use leptos::prelude::*;
use std::future::Future;

/// The attribute that makes a function a split point (see the module docs). Every function
/// with the same module name ends up in the same part.
pub use leptos::wasm_split::wasm_split as lazy_part;

/// A part of the app could not be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartUnavailable;

impl From<leptos::wasm_split::SplitLoaderError> for PartUnavailable {
    fn from(_: leptos::wasm_split::SplitLoaderError) -> Self {
        PartUnavailable
    }
}

impl std::fmt::Display for PartUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("this part of the app could not be downloaded: check your connection and try again")
    }
}

/// Shows the view `load` gives, loading its part first; `what` names it in the lines shown
/// meanwhile or on failure ("the owner's tools").
#[component]
pub fn LazyView<F, Fut>(load: F, what: &'static str) -> impl IntoView
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<AnyView, PartUnavailable>> + Send + 'static,
{
    let attempt = RwSignal::new(0_u32);
    let part = move || {
        attempt.track();
        let load = load.clone();
        Suspend::new(async move {
            match load().await {
                Ok(view) => view,
                Err(e) => view! {
                    <p class="notice error" role="alert">
                        {format!("Cannot show {what}: {e}. ")}
                        <button type="button" class="link-button" on:click=move |_| attempt.update(|n| *n += 1)>
                            "Try again"
                        </button>
                    </p>
                }
                .into_any(),
            }
        })
    };
    view! {
        <Suspense fallback=move || view! { <p class="hint" role="status">{format!("Loading {what}…")}</p> }>
            {part}
        </Suspense>
    }
}
