//! What a message shares: a file card (name, size, Download) or an image thumbnail that
//! opens the viewer. The thumbnail travels inside the message, so it shows at once.

use leptos::prelude::*;
use protocol::names::safe_file_name;
use protocol::objects::FileHandle;

use crate::components::image_viewer::{ViewImage, use_viewer};
use crate::files::transfers::use_transfers;
use crate::files::{human_size, share};
use crate::session::timeline::Attachment;

#[component]
fn FileCard(file: FileHandle) -> impl IntoView {
    let transfers = use_transfers();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // Untrusted text from the uploader: shown as it will be saved (no bidi tricks).
    let name = safe_file_name(&file.name);
    let size = human_size(file.size);
    let download = move |_| {
        let file = file.clone();
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            if let Err(e) = share::download_and_save(transfers, &file).await {
                error.set(Some(e));
            }
            busy.set(false);
        });
    };
    view! {
        <div class="file-card">
            <svg class="file-icon" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
                <path d="M6 2h8l5 5v15H6z M14 2v5h5" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linejoin="round" />
            </svg>
            <span class="file-name">{name.clone()}</span>
            <span class="file-size">{size}</span>
            <button type="button" class="file-download" disabled=move || busy.get() on:click=download
                aria-label=format!("Download {name}")>
                {move || if busy.get() { "Downloading…" } else { "Download" }}
            </button>
            {move || error.get().map(|e| view! { <p class="error file-error" role="alert">{e}</p> })}
        </div>
    }
}

#[component]
pub fn AttachmentView(attachment: Attachment) -> impl IntoView {
    match attachment {
        Attachment::File(file) => view! { <div class="attachment"><FileCard file=file /></div> }.into_any(),
        Attachment::Image { full, preview, thumbnail, width, height } => {
            let viewer = use_viewer();
            let alt = format!("Image {} ({width}×{height}, {})", safe_file_name(&full.name), human_size(full.size));
            let target = ViewImage { full, preview, thumbnail: thumbnail.clone(), alt: alt.clone() };
            view! {
                <div class="attachment">
                    <button type="button" class="thumbnail-button" title="Open the image"
                        on:click=move |_| viewer.set(Some(target.clone()))>
                        <img class="thumbnail" src=thumbnail alt=alt />
                    </button>
                </div>
            }
            .into_any()
        }
    }
}
