//! The owner's panel: message of the day, capacity, lock/unlock, join requests, members,
//! budget and storage tokens. Every action is a signed owner call made by the session.

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::api::{BudgetView, IssuedToken, MemberView};
use protocol::backup::MemberStatus;
use protocol::storage_token::MIN_ROOM_FUNDING_BYTES;

use crate::components::draft_field::DraftField;
use crate::contacts::use_contacts;
use crate::lazy_part::{PartUnavailable, lazy_part};
use crate::session::RoomSession;

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The token sizes offered, in MiB: the smallest funds a new room.
const TOKEN_MIB: [u64; 4] = [MIN_ROOM_FUNDING_BYTES >> 20, 128, 512, 1024];

/// The owner's panel, fetched the first time it opens (most people never own a room).
#[lazy_part(owner_tools, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn admin_panel_part(session: RoomSession) -> Result<AnyView, PartUnavailable> {
    Ok(view! { <AdminPanel session=session /> }.into_any())
}

#[component]
pub fn AdminPanel(session: RoomSession) -> impl IntoView {
    let contacts = use_contacts();
    let motd = DraftField::new();
    let room_name = DraftField::new();
    let capacity = DraftField::new();
    let members = RwSignal::new(Vec::<MemberView>::new());
    // Whether `members` holds the server's answer (not "still loading" or "failed").
    let members_loaded = RwSignal::new(false);
    let budget = RwSignal::new(None::<BudgetView>);
    let token_mib = RwSignal::new(TOKEN_MIB[0]);
    let issued = RwSignal::new(None::<IssuedToken>);
    let message = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let locked = move || session.state.with(|s| s.as_ref().is_some_and(|s| s.locked));
    let allowance = RwSignal::new(None::<u64>);
    let keep_deleted = RwSignal::new(None::<bool>);

    let refresh = move || {
        spawn_local(async move {
            if let Ok(s) = session.admin_settings().await {
                motd.load(session.motd.get_untracked().unwrap_or_default());
                room_name.load(session.room_name.get_untracked().unwrap_or_default());
                capacity.load(s.capacity.to_string());
                allowance.set(Some(s.allowance));
                keep_deleted.set(Some(s.keep_deleted));
            }
            match session.admin_members().await {
                Ok(m) => {
                    members.set(m.members);
                    members_loaded.set(true);
                }
                Err(e) => message.set(Some(e)),
            }
            budget.set(session.admin_budget().await.ok());
        });
    };
    refresh();
    // Join requests arrive while the panel is open: refresh when the room changes.
    Effect::new(move |_| {
        session.state.track();
        session.join_requests.track();
        refresh();
    });
    let run = move |action: &'static str,
                    fut: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>>>>| {
        busy.set(true);
        spawn_local(async move {
            message.set(Some(match fut.await {
                Ok(()) => format!("{action}: done."),
                Err(e) => format!("{action} failed: {e}"),
            }));
            busy.set(false);
            refresh();
        });
    };
    let save_motd = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = motd.get_untracked();
        run("Message of the day", Box::pin(async move { session.admin_set_motd(&text).await.map(|_| motd.saved()) }));
    };
    let save_room_name = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = room_name.get_untracked();
        run("Room name", Box::pin(async move { session.admin_set_room_name(&name).await.map(|_| room_name.saved()) }));
    };
    let save_capacity = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(n) = capacity.get_untracked().trim().parse::<u32>() else {
            message.set(Some("Capacity must be a whole number.".into()));
            return;
        };
        run("Capacity", Box::pin(async move { session.admin_set_capacity(n).await.map(|_| capacity.saved()) }));
    };
    let toggle_lock = move |_| {
        if locked() {
            run("Unlock", Box::pin(async move { session.admin_unlock().await.map(|_| ()) }));
        } else {
            // Everyone already in (with a valid invite proof) keeps reading; newcomers will
            // wait for acceptance. The session reads the member list afresh: the panel's copy
            // may still be loading.
            run("Lock", Box::pin(async move { session.admin_lock().await.map(|_| ()) }));
        }
    };
    let toggle_keep_deleted = move |_| {
        let keep = !keep_deleted.get_untracked().unwrap_or(false);
        run(
            "Deleted messages",
            Box::pin(async move {
                session.admin_set_keep_deleted(keep).await.map(|s| keep_deleted.set(Some(s.keep_deleted)))
            }),
        );
    };
    let issue_token = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let size = token_mib.get_untracked() << 20;
        // A token on screen is one to hand out: never leave an older one there.
        issued.set(None);
        run(
            "Storage token",
            Box::pin(async move {
                let token = session.admin_issue_token(size).await?;
                issued.set(Some(token));
                Ok(())
            }),
        );
    };
    let copy_token = move |_| {
        if let (Some(t), Some(w)) = (issued.get_untracked(), web_sys::window()) {
            let _ = w.navigator().clipboard().write_text(&t.token);
            message.set(Some("Token copied.".into()));
        }
    };
    let me = session.me();
    let only_me = me.clone();
    let nobody_else = move || members_loaded.get() && members.with(|m| m.iter().all(|x| x.key.to_b64() == only_me));
    let member_rows = move || {
        let me = me.clone();
        members.get().into_iter().filter(move |m| m.key.to_b64() != me).collect::<Vec<_>>()
    };
    view! {
        <section class="card admin" aria-labelledby="admin-heading">
            <h2 id="admin-heading">"Room administration"</h2>
            <p class="status-line" role="status">{move || message.get()}</p>
            <form class="row-form" on:submit=save_room_name>
                <label for="admin-room-name">"Room name (everyone in the room sees it; encrypted)"</label>
                <input id="admin-room-name" type="text" maxlength="100"
                    prop:value=move || room_name.get() on:input=move |ev| room_name.input(event_target_value(&ev))
                    on:change=move |ev| room_name.input(event_target_value(&ev))
                    on:focus=move |_| room_name.focus() on:blur=move |_| room_name.blur() />
                <button type="submit" disabled=move || busy.get()>"Save"</button>
            </form>
            <form class="row-form" on:submit=save_motd>
                <label for="admin-motd">"Message of the day"</label>
                <input id="admin-motd" type="text" maxlength="1000"
                    prop:value=move || motd.get() on:input=move |ev| motd.input(event_target_value(&ev))
                    on:change=move |ev| motd.input(event_target_value(&ev))
                    on:focus=move |_| motd.focus() on:blur=move |_| motd.blur() />
                <button type="submit" disabled=move || busy.get()>"Save"</button>
            </form>
            <form class="row-form" on:submit=save_capacity>
                <label for="admin-capacity">"Capacity (members besides you)"</label>
                <input id="admin-capacity" type="number" min="1" max="10000"
                    prop:value=move || capacity.get() on:input=move |ev| capacity.input(event_target_value(&ev))
                    on:change=move |ev| capacity.input(event_target_value(&ev))
                    on:focus=move |_| capacity.focus() on:blur=move |_| capacity.blur() />
                <button type="submit" disabled=move || busy.get()>"Save"</button>
            </form>
            <div class="row">
                <button id="admin-lock" type="button" on:click=toggle_lock disabled=move || busy.get()>
                    {move || if locked() { "Unlock the room" } else { "Lock the room" }}
                </button>
                <span class="hint">{move || if locked() {
                    "Locked: newcomers wait for your acceptance and get a key only you hand out."
                } else {
                    "Open: anyone with the link can read and write."
                }}</span>
            </div>
            <div class="row">
                <label class="check">
                    <input id="admin-keep-deleted" type="checkbox" on:change=toggle_keep_deleted
                        prop:checked=move || keep_deleted.get().unwrap_or(false)
                        disabled=move || busy.get() || keep_deleted.get().is_none() />
                    "Keep deleted messages on the server"
                </label>
                <span class="hint">{move || if keep_deleted.get().unwrap_or(false) {
                    "A message deleted for everyone disappears from screens; its encrypted copy stays on the server."
                } else {
                    "A message deleted for everyone is also dropped from the server."
                }}</span>
            </div>
            <h3>"Members"</h3>
            {move || nobody_else().then(|| view! { <p class="hint">"Nobody else has joined yet."</p> })}
            <ul class="members">
                <For each=member_rows key=|m| (m.key.to_b64(), m.status) children=move |m| {
                    let key = m.key;
                    let label = contacts.name(&key.to_b64(), &session.alias_of(&key.to_b64()));
                    let verified = contacts.is_verified(&key.to_b64());
                    let impostor = contacts.impostor_of(session.room_id().as_str(), &key.to_b64(), &session.alias_of(&key.to_b64()));
                    let status = format!("{:?}", m.status).to_lowercase();
                    let pending = m.status == MemberStatus::Pending;
                    let active = matches!(m.status, MemberStatus::Member | MemberStatus::Accepted);
                    // A key without a valid proof of the invite link was not let in by
                    // anyone holding the link: it gets no room key from this browser.
                    let (_, unvouched) = session.vouched(std::slice::from_ref(&m));
                    let unvouched = !unvouched.is_empty();
                    let spent = m.spent;
                    view! {
                        <li class="member" data-status=status.clone() data-key=key.to_b64()>
                            <span class="member-name">{label.clone()}</span>
                            <span class="member-key" title=key.to_b64()>{format!("{}…", &key.to_b64()[..10])}</span>
                            <span class="tag">{status.clone()}</span>
                            {m.online.then(|| view! { <span class="tag online-tag">"online"</span> })}
                            {verified.then(|| view! { <span class="tag verified-tag">"✓ verified"</span> })}
                            {impostor.map(|name| view! { <span class="tag impostor-tag">{format!("⚠ not the {name} you verified")}</span> })}
                            {unvouched.then(|| view! { <span class="tag warning-tag" title="This key did not prove it holds the invite link: it gets no room key from you">"no invite proof"</span> })}
                            {(spent > 0).then(|| view! { <span class="tag spent-tag" data-spent=spent.to_string()>{format!("used {}", mib(spent))}</span> })}
                            {pending.then(|| view! {
                                <button type="button" class="accept" on:click=move |_| run("Accept", Box::pin(async move { session.admin_accept(key).await }))>"Accept"</button>
                                <button type="button" class="deny" on:click=move |_| run("Deny", Box::pin(async move { session.admin_deny(key).await }))>"Deny"</button>
                            })}
                            // Removing is not undone: it asks once more, in place.
                            {active.then(|| {
                                let confirming = RwSignal::new(false);
                                let name = label.clone();
                                view! {
                                    <Show when=move || confirming.get() fallback=move || view! {
                                        <button type="button" class="remove" on:click=move |_| confirming.set(true)>"Remove and re-key"</button>
                                    }>
                                        <span class="confirm-remove" role="group" aria-label="Confirm the removal">
                                            {format!("Remove {name}? They lose access and everyone gets a new room key.")}
                                            <button type="button" class="remove-confirm danger" on:click=move |_| {
                                                confirming.set(false);
                                                run("Remove", Box::pin(async move { session.admin_remove(key).await }));
                                            }>"Remove"</button>
                                            <button type="button" class="remove-cancel" on:click=move |_| confirming.set(false)>"Cancel"</button>
                                        </span>
                                    </Show>
                                }
                            })}
                        </li>
                    }
                } />
            </ul>
            <h3>"Storage budget"</h3>
            <p id="allowance-line" class="hint">{move || allowance.get().map(|a| format!("Each member may use up to {} of it for files (you have no limit).", mib(a))).unwrap_or_default()}</p>
            <p id="budget-line" data-remaining=move || budget.get().map(|b| b.remaining.to_string())
                data-issued=move || budget.get().map(|b| b.tokens_issued.to_string())
                data-message-bytes=move || budget.get().map(|b| b.message_bytes.to_string())>{move || budget.get().map(|b| format!("{} of {} left ({} issued)", mib(b.remaining), mib(b.total), match b.tokens_issued { 1 => "1 token".to_owned(), n => format!("{n} tokens") })).unwrap_or_else(|| "…".into())}</p>
            <form class="row-form" on:submit=issue_token>
                <label for="token-size">"Issue a storage token (funds a new room, or pays for files elsewhere)"</label>
                <select id="token-size" on:change=move |ev| {
                    if let Ok(n) = event_target_value(&ev).parse() { token_mib.set(n) }
                }>
                    {TOKEN_MIB.iter().map(|n| view! {
                        <option value=n.to_string() selected=move || token_mib.get() == *n>{mib(n << 20)}</option>
                    }).collect_view()}
                </select>
                <button id="issue-token" type="submit" disabled=move || busy.get()>"Issue token"</button>
            </form>
            {move || issued.get().map(|t| view! {
                <div class="issued-token">
                    <label for="issued-token">{format!("Token worth {} — shown only now, works once:", mib(t.size))}</label>
                    <div class="row">
                        <input id="issued-token" type="text" readonly prop:value=t.token.clone()
                            on:focus=move |ev| { event_target::<web_sys::HtmlInputElement>(&ev).select(); } />
                        <button type="button" on:click=copy_token>"Copy"</button>
                    </div>
                </div>
            })}
        </section>
    }
}
