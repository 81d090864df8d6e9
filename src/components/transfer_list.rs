//! The running and finished uploads and downloads of this tab: a progress bar with bytes,
//! speed and time left, a Cancel button while running, and the reason when one failed.
//! Finished transfers leave the list by themselves after a few seconds.

use leptos::prelude::*;

use crate::files::human_size;
use crate::files::transfers::{Transfer, TransferStatus, use_transfers};

fn duration(secs: f64) -> String {
    let secs = secs.round() as u64;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3_599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3_600, (secs % 3_600) / 60),
    }
}

/// "12.0 MB of 50.0 MB · 8.1 MB/s · 5 s left"
fn progress_line(t: &Transfer) -> String {
    match &t.status {
        TransferStatus::Preparing => format!("Reading {} of {}…", human_size(t.done), human_size(t.total)),
        TransferStatus::Running => {
            let mut line =
                format!("{} of {} · {}/s", human_size(t.done), human_size(t.total), human_size(t.speed() as u64));
            if let Some(left) = t.remaining_secs() {
                line.push_str(&format!(" · {} left", duration(left)));
            }
            line
        }
        TransferStatus::Done => format!("Done · {}", human_size(t.total)),
        TransferStatus::Cancelled => "Cancelled".to_owned(),
        TransferStatus::Failed(why) => format!("Failed: {why}"),
    }
}

#[component]
fn TransferRow(transfer: Transfer) -> impl IntoView {
    let transfers = use_transfers();
    let t = transfer;
    let id = t.id;
    let running = matches!(t.status, TransferStatus::Preparing | TransferStatus::Running);
    let failed = matches!(t.status, TransferStatus::Failed(_));
    let kind = match (t.upload, running) {
        (true, true) => "Uploading",
        (true, false) => "Upload of",
        (false, true) => "Downloading",
        (false, false) => "Download of",
    };
    let status = match &t.status {
        TransferStatus::Preparing => "preparing",
        TransferStatus::Running => "running",
        TransferStatus::Done => "done",
        TransferStatus::Cancelled => "cancelled",
        TransferStatus::Failed(_) => "failed",
    };
    let max = t.total.max(1);
    let label = format!("{kind} {}", t.name);
    view! {
        <li class="transfer" data-status=status data-upload=t.upload.to_string()>
            <span class="transfer-name">{label.clone()}</span>
            <progress max=max.to_string() value=t.done.min(max).to_string() aria-label=label></progress>
            <span class="transfer-line" class:error=failed role=if failed { "alert" } else { "status" }>{progress_line(&t)}</span>
            {running.then(|| view! {
                <button type="button" class="link-button transfer-cancel" on:click=move |_| transfers.cancel(id)>"Cancel"</button>
            })}
        </li>
    }
}

#[component]
pub fn TransferList() -> impl IntoView {
    let transfers = use_transfers();
    let any_finished = move || {
        transfers.0.with(|l| l.iter().any(|t| !matches!(t.status, TransferStatus::Preparing | TransferStatus::Running)))
    };
    // The completed count is for scripts (and tests) that wait for transfers to finish.
    view! {
        <div id="transfers" data-completed=move || transfers.1.get().to_string()>
        <Show when=move || transfers.0.with(|l| !l.is_empty())>
            <section class="transfers" aria-label="File transfers">
                <ul class="transfer-list">
                    {move || transfers.0.get().into_iter().map(|t| view! { <TransferRow transfer=t /> }).collect_view()}
                </ul>
                <Show when=any_finished>
                    <button type="button" class="link-button" on:click=move |_| transfers.clear_finished()>"Clear finished"</button>
                </Show>
            </section>
        </Show>
        </div>
    }
}
