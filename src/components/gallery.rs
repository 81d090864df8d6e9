//! The room's gallery: every image shared in the loaded part of the conversation, newest
//! first; a thumbnail opens the viewer.

use leptos::prelude::*;

use crate::components::image_viewer::{ViewImage, use_viewer};
use crate::session::RoomSession;
use crate::session::timeline::{Attachment, Trust};

#[component]
pub fn Gallery(session: RoomSession) -> impl IntoView {
    let viewer = use_viewer();
    let images = move || {
        session.timeline.with(|t| {
            let mut out: Vec<ViewImage> = t
                .iter()
                .filter(|m| m.trust == Trust::Verified)
                .filter_map(|m| match &m.attachment {
                    Some(Attachment::Image { full, preview, thumbnail, .. }) => Some(ViewImage {
                        full: full.clone(),
                        preview: preview.clone(),
                        thumbnail: thumbnail.clone(),
                        alt: format!("Image {} shared by {}", protocol::names::safe_file_name(&full.name), m.alias),
                    }),
                    _ => None,
                })
                .collect();
            out.reverse();
            out
        })
    };
    view! {
        <section class="gallery" aria-label="Images shared in this room">
            <h2>"Gallery"</h2>
            {move || {
                let list = images();
                if list.is_empty() {
                    view! { <p class="muted">"No images shared yet (older ones appear once their messages are loaded)."</p> }.into_any()
                } else {
                    view! {
                        <ul class="gallery-grid">
                            {list.into_iter().map(|img| {
                                let (src, alt) = (img.thumbnail.clone(), img.alt.clone());
                                view! {
                                    <li><button type="button" class="thumbnail-button" on:click=move |_| viewer.set(Some(img.clone()))>
                                        <img class="thumbnail" src=src alt=alt />
                                    </button></li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }
            }}
        </section>
    }
}
