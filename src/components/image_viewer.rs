//! The image viewer: opened from a thumbnail (in a message or the gallery), it shows the
//! thumbnail at once, then the preview once it is downloaded and checked; "Open full
//! image" swaps in the original, "Download original" saves it. Escape or Close leaves.

use leptos::prelude::*;
use protocol::objects::FileHandle;

use crate::files::download::Purpose;
use crate::files::transfers::use_transfers;
use crate::files::{download, share};

/// An image to show.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewImage {
    pub full: FileHandle,
    pub preview: Option<FileHandle>,
    /// The `data:` URL shown until the preview arrives.
    pub thumbnail: String,
    pub alt: String,
}

/// The image the viewer shows, if open (one per room page).
#[derive(Clone, Copy)]
pub struct Viewer(RwSignal<Option<ViewImage>>);

/// Provides the viewer's state to the room page's views.
pub fn provide() {
    provide_context(Viewer(RwSignal::new(None)));
}

pub fn use_viewer() -> RwSignal<Option<ViewImage>> {
    expect_context::<Viewer>().0
}

#[component]
pub fn ImageViewer() -> impl IntoView {
    let viewer = use_viewer();
    let transfers = use_transfers();
    // The object URL on screen, and which load it belongs to (a newer one wins).
    let shown = RwSignal::new(None::<String>);
    let generation = StoredValue::new(0u64);
    let full_shown = RwSignal::new(false);
    let loading = RwSignal::new(None::<&'static str>);
    let error = RwSignal::new(None::<String>);
    let close_button = NodeRef::<leptos::html::Button>::new();

    let show = move |handle: FileHandle, full: bool| {
        let this = generation.with_value(|g| *g);
        loading.set(Some(if full { "Loading the full image…" } else { "Loading the preview…" }));
        error.set(None);
        leptos::task::spawn_local(async move {
            let result = share::fetch(transfers, &handle, Purpose::Show).await;
            if generation.with_value(|g| *g) != this {
                return;
            }
            loading.set(None);
            match result.map(|blob| download::object_url(&blob)) {
                Ok(Some(url)) => {
                    if let Some(old) = shown.get_untracked() {
                        let _ = web_sys::Url::revoke_object_url(&old);
                    }
                    shown.set(Some(url));
                    full_shown.set(full);
                }
                Ok(None) => error.set(Some("This browser cannot show the image.".into())),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let reset = move || {
        generation.update_value(|g| *g += 1);
        if let Some(old) = shown.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&old);
        }
        shown.set(None);
        full_shown.set(false);
        loading.set(None);
        error.set(None);
    };
    Effect::new(move |_| {
        let target = viewer.get();
        reset();
        if let Some(t) = target {
            let (handle, full) = match t.preview {
                Some(p) => (p, false),
                None => (t.full, true),
            };
            show(handle, full);
            if let Some(b) = close_button.get_untracked() {
                let _ = b.focus();
            }
        }
    });
    let close = move || viewer.set(None);
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            close();
        }
    };
    let target = move || viewer.get();
    view! {
        <Show when=move || viewer.with(Option::is_some)>
            <div class="viewer-backdrop" on:click=move |_| close()>
                <div class="viewer" role="dialog" aria-modal="true" aria-label=move || target().map(|t| t.alt).unwrap_or_default()
                    on:click=|ev| ev.stop_propagation() on:keydown=on_keydown>
                    <img class="viewer-image" data-source=move || if shown.with(Option::is_none) { "thumbnail" } else if full_shown.get() { "full" } else { "preview" }
                        src=move || shown.get().or_else(|| target().map(|t| t.thumbnail)).unwrap_or_default()
                        alt=move || target().map(|t| t.alt).unwrap_or_default() />
                    <p class="viewer-status" role="status">{move || loading.get()}</p>
                    {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                    <div class="viewer-actions">
                        <Show when=move || !full_shown.get()>
                            <button type="button" id="viewer-full" on:click=move |_| {
                                if let Some(t) = target() { show(t.full, true) }
                            }>"Open full image"</button>
                        </Show>
                        <button type="button" on:click=move |_| {
                            if let Some(t) = target() {
                                leptos::task::spawn_local(async move {
                                    if let Err(e) = share::download_and_save(transfers, &t.full).await {
                                        error.set(Some(e));
                                    }
                                });
                            }
                        }>"Download original"</button>
                        <button type="button" node_ref=close_button on:click=move |_| close()>"Close"</button>
                    </div>
                </div>
            </div>
        </Show>
    }
}
