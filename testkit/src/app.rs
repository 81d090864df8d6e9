//! Driving the Cloakroom SPA in a browser the way a person does: create a room, open an
//! invite link, choose an alias, write messages.

use std::path::{Path, PathBuf};

use fantoccini::Client;

use crate::backend::TestServer;
use crate::browser::{click, fill, wait_for, wait_for_attr};
use crate::server::ServerOptions;

/// The admin secret of the servers [`start_server`] starts.
pub const SECRET: &str = "e2e-admin-secret";

/// Server flags that lift the rate limit, for tests that fill a room quickly.
pub const NO_RATE_LIMIT: [&str; 4] = ["--rate-per-second", "100000", "--rate-burst", "100000"];

/// A native member with a fresh identity in the room behind the invite `link`, and the
/// room's key (to write into a room a browser created).
pub async fn native_member(ws_base: &str, link: &str) -> (crate::client::Member, protocol::content_key::ContentKey) {
    let (room, key) = parse_link(link);
    let member = crate::client::Member::join(ws_base, &room, crate::client::new_identity())
        .await
        .expect("join as a native member");
    (member, key)
}

/// The built SPA (`trunk build --release` writes it).
pub fn dist_dir() -> PathBuf {
    let dist = crate::workspace_root().join("dist");
    assert!(dist.join("index.html").is_file(), "dist/ is missing: build the SPA first (trunk build --release)");
    dist
}

/// The worker API (`CLOAKROOM_BACKEND`: mock-server or the edge) serving the built SPA,
/// with [`SECRET`] and any extra mock-server `args` (translated for the edge).
pub fn start_server(data: &Path, args: &[&str]) -> TestServer {
    let mut options = ServerOptions::new(data);
    options.static_dir = Some(dist_dir());
    options.admin_secret = SECRET.into();
    for a in args {
        options = options.arg(*a);
    }
    TestServer::start(options)
}

/// Creates a room as `alias` from the landing page; returns the invite link.
pub async fn create_room(client: &Client, base: &str, alias: &str, secret: &str) -> String {
    client.goto(&format!("{base}/")).await.expect("open landing");
    fill(client, "#create-alias", alias).await;
    fill(client, "#create-secret", secret).await;
    click(client, "#create-room").await;
    let link = wait_for(client, "#invite-link").await.prop("value").await.expect("read link").expect("link value");
    assert!(link.contains("/r/") && link.contains('#'), "unexpected invite link {link}");
    wait_for_attr(client, "#connection-status", "data-status", "connected").await;
    link
}

/// Opens an invite link for the first time and joins as `alias`.
pub async fn join_room(client: &Client, link: &str, alias: &str) {
    client.goto(link).await.expect("open invite link");
    fill(client, "#alias-input", alias).await;
    click(client, "#alias-submit").await;
    wait_for(client, "#connection-status").await;
}

/// A room `owner` created (as `owner_alias`) and `guest` joined (as `guest_alias`), both
/// connected; returns the invite link.
pub async fn room_of_two(owner: &Client, guest: &Client, base: &str, owner_alias: &str, guest_alias: &str) -> String {
    let link = create_room(owner, base, owner_alias, SECRET).await;
    join_room(guest, &link, guest_alias).await;
    wait_for_attr(guest, "#connection-status", "data-status", "connected").await;
    link
}

/// Writes a message and presses Enter.
pub async fn say(client: &Client, text: &str) {
    fill(client, "#composer", text).await;
    wait_for(client, "#composer").await.send_keys("\u{E007}").await.expect("press Enter");
}

/// The room id and content key of an invite link.
/// (It also remembers the key as the room's invite, so [`crate::client::Member::join`]
/// joins like a browser that opened the link.)
pub fn parse_link(link: &str) -> (protocol::ids::RoomId, protocol::content_key::ContentKey) {
    let after = link.split("/r/").nth(1).expect("room path");
    let (room, fragment) = after.split_once('#').expect("fragment");
    // The key, without the invite card that may follow it.
    let key = fragment.split('&').next().unwrap_or_default();
    let (room, key) = (
        protocol::ids::RoomId::parse(room).expect("room id"),
        protocol::content_key::ContentKey::parse(key).expect("content key"),
    );
    crate::client::remember_invite(&room, &key);
    (room, key)
}

/// Gives the keyboard focus to the newest message row whose text contains `needle` (its
/// actions toolbar shows, as for a keyboard user) and marks it `data-action-row` for the
/// next selectors; returns the row's message id.
pub async fn focus_row(client: &Client, needle: &str) -> String {
    let script = r#"
        const [needle] = arguments;
        const rows = [...document.querySelectorAll('#messages > li.message')].reverse();
        const row = rows.find(r => [...r.querySelectorAll('.message-text')].some(t => t.textContent.includes(needle)));
        if (!row) return null;
        document.querySelectorAll('[data-action-row]').forEach(e => e.removeAttribute('data-action-row'));
        row.setAttribute('data-action-row', '');
        row.focus();
        return row.getAttribute('data-id');
    "#;
    client
        .execute(script, vec![serde_json::Value::from(needle)])
        .await
        .expect("find the row")
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no message row shows {needle:?}"))
}

/// Runs one of a message's actions (`button`: `.action-reply`, `.action-edit`, …) on the
/// newest row whose text contains `needle`: the row takes the focus, then the button is
/// clicked. Returns the row's message id.
pub async fn message_action(client: &Client, needle: &str, button: &str) -> String {
    let id = focus_row(client, needle).await;
    click(client, &format!("li[data-action-row] {button}")).await;
    id
}
