//! Shows whether the room socket is connected.

use leptos::prelude::*;

use crate::net::socket::ConnectionStatus;

#[component]
pub fn ConnectionBadge(status: RwSignal<ConnectionStatus>) -> impl IntoView {
    let label = move || match status.get() {
        ConnectionStatus::Connecting => "Connecting…".to_owned(),
        ConnectionStatus::Connected => "Connected".to_owned(),
        ConnectionStatus::Waiting => "Waiting for the owner".to_owned(),
        ConnectionStatus::Reconnecting { retry_in_ms } => {
            format!("Offline — retrying in {}s", retry_in_ms.div_ceil(1000))
        }
        ConnectionStatus::Failed(_) => "Cannot join".to_owned(),
        ConnectionStatus::Closed => "Closed".to_owned(),
    };
    let state = move || match status.get() {
        ConnectionStatus::Connecting => "connecting",
        ConnectionStatus::Connected => "connected",
        ConnectionStatus::Waiting => "waiting",
        ConnectionStatus::Reconnecting { .. } => "reconnecting",
        ConnectionStatus::Failed(_) => "failed",
        ConnectionStatus::Closed => "closed",
    };
    view! {
        <span id="connection-status" class="badge" data-status=state role="status" aria-live="polite">{label}</span>
    }
}
