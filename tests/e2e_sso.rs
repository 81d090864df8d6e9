//! End to end, the SSO: a real OpenID provider (npm `oidc-provider`), the SSO
//! (`sso-server`), the worker API (mock-server, or the edge with `CLOAKROOM_BACKEND=edge`)
//! and Chromium, all on 127.0.0.1. A member of the owners
//! group signs in, gets this month's quota of room authorisations, creates rooms with
//! them; a spent one is refused and dropped, the quota holds, a person outside the group
//! gets none. Byte scans: the SSO keeps no room id, owner key or token; the worker keeps no
//! login name.
#![cfg(not(target_arch = "wasm32"))]

use protocol::api::CreateAuthorization;
use protocol::error::ErrorCode;
use protocol::sso::KeptToken;
use testkit::app::{SECRET, dist_dir, say};
use testkit::backend::TestServer;
use testkit::browser::{Driver, click, fill, wait_for, wait_for_attr, wait_for_text, with_browsers};
use testkit::client::TestRoom;
use testkit::scan::{files_containing, secret_encodings};
use testkit::server::ServerOptions;
use testkit::sso::{SsoKeys, SsoStack};

const QUOTA: u64 = 3;

/// Signs in at the test provider's development login page as `login` (if the provider
/// does not remember the person already) and allows Cloakroom's SSO once ("Continue"),
/// until the person is back on the create form.
async fn sign_in(client: &fantoccini::Client, base: &str, login: &str) {
    use fantoccini::Locator::Css;
    // A mark on this page: the form is "back" only once a new page (after the trip to the
    // SSO, which may be quick when the provider remembers the person) has replaced it.
    client.execute("window.__beforeSignIn = true", vec![]).await.unwrap();
    click(client, "#sso-sign-in").await;
    let mut logged_in = false;
    for _ in 0..200 {
        let url = client.current_url().await.unwrap();
        if url.as_str().starts_with(base) && url.path() == "/" {
            let fresh = client.execute("return window.__beforeSignIn === undefined", vec![]).await.unwrap();
            if fresh == serde_json::Value::Bool(true) && client.find(Css("#create-heading")).await.is_ok() {
                return;
            }
        } else if !logged_in && client.find(Css("input[name=login]")).await.is_ok() {
            fill(client, "input[name=login]", login).await;
            fill(client, "input[name=password]", "any password").await;
            click(client, "button[type=submit]").await;
            logged_in = true;
        } else if let Ok(button) = client.find(Css("button[type=submit]")).await {
            let _ = button.click().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the sign-in did not come back to the create form");
}

async fn kept_tokens(client: &fantoccini::Client) -> Vec<KeptToken> {
    let raw = client.execute("return localStorage.getItem('cloakroom.v2.sso_tokens') || '[]'", vec![]).await.unwrap();
    serde_json::from_str(raw.as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_signs_in_at_the_sso_and_creates_rooms_nobody_can_link_to_them() {
    let keys_dir = tempfile::tempdir().unwrap();
    let keys = SsoKeys::new(keys_dir.path(), &["--max-redemptions", "100"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let sso = SsoStack::start(&keys, &format!("{base}/sso-return"), QUOTA);
    let data = tempfile::tempdir().unwrap();
    let mut options = ServerOptions::new(data.path());
    options.static_dir = Some(dist_dir());
    options.admin_secret = SECRET.into();
    options.listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
    for arg in keys.server_args(&sso.origin) {
        options = options.arg(arg);
    }
    let mut server = TestServer::start(options);
    let driver = Driver::start().await;

    let (rooms, spent_elsewhere) = with_browsers(&driver, 2, |browsers| {
        let base = base.clone();
        async move {
            let (alice, bob) = (&browsers[0], &browsers[1]);
            alice.goto(&format!("{base}/")).await.unwrap();
            click(alice, "#fund-sso").await;
            wait_for_text(alice, "#sso-count", "No room authorisation").await;
            wait_for_text(alice, "#sso-sign-in", "Sign in with Test Org").await;

            // Signing in gives this month's quota, and the fragment leaves the address bar.
            sign_in(alice, &base, "owner-alice").await;
            wait_for_text(alice, "#create-status", &format!("{QUOTA} new room authorisations")).await;
            wait_for_text(alice, "#sso-count", &format!("{QUOTA} room authorisations on this device")).await;
            let url = alice.current_url().await.unwrap();
            assert!(!url.as_str().contains("sigs="), "the signatures left the address bar: {url}");
            assert_eq!(kept_tokens(alice).await.len() as u64, QUOTA);
            let session: String = alice
                .execute("return JSON.stringify(Object.keys(sessionStorage))", vec![])
                .await
                .unwrap()
                .as_str()
                .unwrap()
                .into();
            assert!(!session.contains("pending"), "the blinding secrets are forgotten: {session}");

            // A room created with one: it works like any other.
            fill(alice, "#create-alias", "Alice-sso").await;
            click(alice, "#create-room").await;
            let link = wait_for(alice, "#invite-link").await.prop("value").await.unwrap().unwrap();
            wait_for_attr(alice, "#connection-status", "data-status", "connected").await;
            say(alice, "hello from an SSO room").await;
            wait_for_text(alice, "#messages", "hello from an SSO room").await;
            let first_room = testkit::app::parse_link(&link).0;

            // Someone else spends one of Alice's tokens first (a copy of her export, say):
            // her next creation is refused clearly, that token is dropped, the next works.
            let left = kept_tokens(alice).await;
            assert_eq!(left.len() as u64, QUOTA - 1);
            let stolen = left[0].token.clone();
            let thief = TestRoom::fresh();
            thief.register(&base, CreateAuthorization::SsoToken { token: stolen.clone() }).await.unwrap();
            alice.goto(&format!("{base}/")).await.unwrap();
            click(alice, "#fund-sso").await;
            fill(alice, "#create-alias", "Alice-sso").await;
            click(alice, "#create-room").await;
            wait_for_text(alice, "[role=alert]", "used already").await;
            wait_for_text(alice, "#sso-count", "1 room authorisation on this device").await;
            click(alice, "#create-room").await;
            let link = wait_for(alice, "#invite-link").await.prop("value").await.unwrap().unwrap();
            wait_for_attr(alice, "#connection-status", "data-status", "connected").await;
            let second_room = testkit::app::parse_link(&link).0;

            // The quota holds: signing in again this month gives nothing.
            alice.goto(&format!("{base}/")).await.unwrap();
            click(alice, "#fund-sso").await;
            sign_in(alice, &base, "owner-alice").await;
            wait_for_text(alice, "[role=alert]", "used all of this month's room authorisations").await;
            wait_for_text(alice, "#sso-count", "No room authorisation").await;

            // Someone outside the owners group gets none.
            bob.goto(&format!("{base}/")).await.unwrap();
            click(bob, "#fund-sso").await;
            sign_in(bob, &base, "guest-bob").await;
            wait_for_text(bob, "[role=alert]", "may not create rooms").await;
            assert!(kept_tokens(bob).await.is_empty());
            ((first_room, second_room, thief.id.clone()), stolen)
        }
    })
    .await;

    // The spent token cannot be spent again, natively either.
    let again = TestRoom::fresh();
    let refused = again.register(&base, CreateAuthorization::SsoToken { token: spent_elsewhere.clone() }).await;
    assert_eq!(refused.unwrap_err().1.error.code, ErrorCode::TokenSpent);
    server.stop();

    // The SSO's disk: no room id, no owner key, no token (nonce or signature).
    let nonce = protocol::encoding::unb64(&spent_elsewhere.nonce).unwrap();
    let sig = protocol::encoding::unb64(&spent_elsewhere.sig).unwrap();
    for room in [&rooms.0, &rooms.1, &rooms.2] {
        let found = files_containing(sso.data_dir.path(), room.as_str().as_bytes());
        assert!(found.is_empty(), "a room id reached the SSO: {found:?}");
    }
    for secret in [&nonce[..], &sig[..32]] {
        for encoding in secret_encodings(secret) {
            assert!(files_containing(sso.data_dir.path(), &encoding).is_empty(), "a token reached the SSO's disk");
        }
    }
    assert!(files_containing(sso.data_dir.path(), b"owner-alice").is_empty(), "the SSO keeps no subject");
    assert!(!files_containing(sso.data_dir.path(), b"usage").is_empty(), "the scan reads the SSO's database");
    // The worker's disk: no login name, subject or account.
    for who in ["owner-alice", "guest-bob"] {
        assert!(files_containing(data.path(), who.as_bytes()).is_empty(), "{who} reached the worker");
    }
    assert!(!files_containing(data.path(), rooms.0.as_str().as_bytes()).is_empty(), "the scan reads the worker");
}
