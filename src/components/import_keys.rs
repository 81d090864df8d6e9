//! Importing a keys file: choose the file, enter its passphrase, see what will be added or
//! replaced, confirm. Nothing is written before the confirmation, and rooms that would
//! get a different identity are replaced only if ticked.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::keys_file::KeysFileError;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::contacts::use_contacts;
use crate::store::export::{self, MergePlan};

fn short(room: &str) -> String {
    format!("{}…", &room[..10.min(room.len())])
}

#[component]
pub fn ImportKeys() -> impl IntoView {
    let contacts = use_contacts();
    let file_text = RwSignal::new(None::<String>);
    let passphrase = RwSignal::new(String::new());
    let plan = RwSignal::new(None::<MergePlan>);
    let replace = RwSignal::new(BTreeSet::<String>::new());
    let rename_contacts = RwSignal::new(false);
    let message = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let on_file = move |ev: leptos::ev::Event| {
        plan.set(None);
        let input: Option<web_sys::HtmlInputElement> = ev.target().and_then(|t| t.dyn_into().ok());
        let Some(file) = input.and_then(|i| i.files()).and_then(|f| f.get(0)) else { return };
        spawn_local(async move {
            match JsFuture::from(file.text()).await {
                Ok(text) => file_text.set(text.as_string()),
                Err(_) => message.set(Some("This file cannot be read.".into())),
            }
        });
    };
    let check = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(text) = file_text.get_untracked() else {
            message.set(Some("Choose a keys file first.".into()));
            return;
        };
        busy.set(true);
        message.set(Some("Checking the file…".into()));
        let pass = passphrase.get_untracked();
        spawn_local(async move {
            match export::read_file(&text, &pass).await {
                Ok(bundle) => {
                    plan.set(Some(export::plan(&bundle)));
                    message.set(None);
                }
                Err(KeysFileError::WrongPassphrase) => {
                    message.set(Some("Wrong passphrase: nothing was imported.".into()))
                }
                Err(e) => message.set(Some(format!("{e}. Nothing was imported."))),
            }
            busy.set(false);
        });
    };
    let apply = move |_| {
        let Some(p) = plan.get_untracked() else { return };
        match export::apply(&p, &replace.get_untracked(), rename_contacts.get_untracked()) {
            Ok(s) => {
                contacts.reload();
                plan.set(None);
                message.set(Some(format!(
                    "Imported: {} room(s) added, {} completed, {} replaced, {} contact name(s), {} verified member(s){}.",
                    s.added,
                    s.completed,
                    s.replaced,
                    s.contacts,
                    s.verified,
                    match s.sso_tokens {
                        0 => String::new(),
                        n => format!(", {n} room authorisation(s)"),
                    }
                )));
            }
            Err(e) => message.set(Some(e.to_string())),
        }
    };
    view! {
        <form class="card" on:submit=check aria-labelledby="import-heading">
            <h2 id="import-heading">"Import a keys file"</h2>
            <p class="hint">"Bring your rooms, identities and contact names from another browser or a backup."</p>
            <label for="import-file">"Keys file"</label>
            <input id="import-file" type="file" accept=".json,application/json" on:change=on_file />
            <label for="import-passphrase">"Its passphrase"</label>
            <input id="import-passphrase" type="password" autocomplete="off"
                prop:value=move || passphrase.get() on:input=move |ev| passphrase.set(event_target_value(&ev)) />
            <button id="import-check" type="submit" disabled=move || busy.get()>"Check file"</button>
            <p id="import-message" class="status-line" role="status">{move || message.get()}</p>
        </form>
        {move || plan.get().map(|p| {
            let nothing = p.add.is_empty() && p.complete.is_empty() && p.conflicts.is_empty()
                && p.new_contacts.is_empty() && p.renamed_contacts.is_empty() && p.new_verified.is_empty();
            view! {
                <section class="card merge-plan" aria-labelledby="plan-heading">
                    <h2 id="plan-heading">"What this import will do"</h2>
                    {nothing.then(|| view! { <p>"Everything in this file is already here."</p> })}
                    {(!p.add.is_empty()).then(|| view! {
                        <p>{format!("Add {} room(s):", p.add.len())}</p>
                        <ul>{p.add.iter().map(|r| view! { <li>{r.name.clone().unwrap_or_else(|| short(&r.room))}</li> }).collect_view()}</ul>
                    })}
                    {(!p.complete.is_empty()).then(|| view! {
                        <p>{format!("Fill in missing keys or names of {} room(s) you already have.", p.complete.len())}</p>
                    })}
                    {(!p.conflicts.is_empty()).then(|| view! {
                        <p>"These rooms have a different identity here. Tick the ones to replace (your current identity there is lost):"</p>
                        <ul>{p.conflicts.iter().map(|r| {
                            let room = r.room.clone();
                            let id = format!("replace-{}", &room[..8.min(room.len())]);
                            view! { <li>
                                <input type="checkbox" id=id.clone() on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    replace.update(|s| { if on { s.insert(room.clone()); } else { s.remove(&room); } });
                                } />
                                <label for=id>{format!("Replace {}", r.name.clone().unwrap_or_else(|| short(&r.room)))}</label>
                            </li> }
                        }).collect_view()}</ul>
                    })}
                    {(!p.new_contacts.is_empty()).then(|| view! { <p>{format!("Add {} contact name(s).", p.new_contacts.len())}</p> })}
                    {(!p.new_verified.is_empty()).then(|| view! { <p>{format!("Add {} safety-number verification(s).", p.new_verified.len())}</p> })}
                    {(!p.renamed_contacts.is_empty()).then(|| view! {
                        <p>
                            <input type="checkbox" id="rename-contacts" on:change=move |ev| rename_contacts.set(event_target_checked(&ev)) />
                            <label for="rename-contacts">{format!("Rename {} contact(s) you named differently here", p.renamed_contacts.len())}</label>
                        </p>
                    })}
                    <button id="import-apply" type="button" class="primary" on:click=apply>"Import"</button>
                    <button type="button" on:click=move |_| plan.set(None)>"Cancel"</button>
                </section>
            }
        })}
    }
}
