//! End to end against a hostile server: real Chromium sessions reach a real mock-server
//! only through testkit's [`HostileProxy`], which rewrites what the server answers the way
//! a compromised server could: room keys wrapped by someone other than the owner, an
//! epoch the owner never signed, a fake owner key, a member list padded with keys nobody
//! invited, and a crafted invite link. The browsers must use none of it, say so, and keep
//! sending under the true keys. The test fails if any substituted key is ever used.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::content_key::ContentKey;
use protocol::envelope::{self, Envelope};
use protocol::identity::{IdentityKey, PublicKey};
use protocol::ids::RoomId;
use protocol::key_wrap;
use protocol::room_state::{SignedState, StateFields};
use serde_json::{Value, json};
use testkit::app::{self, SECRET, parse_link, say, start_server};
use testkit::browser::{Driver, click, fill, wait_for, wait_for_attr, wait_for_text, with_browsers};
use testkit::client::new_identity;
use testkit::hostile_proxy::HostileProxy;

const MOTD: &str = "Only members read this, e2e-motd-5d2c";

/// Every `send` frame a browser sent through the proxy, by sender.
fn sent_by(proxy: &HostileProxy, sender: &PublicKey) -> Vec<Envelope> {
    proxy
        .client_frames()
        .iter()
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter(|v| v["t"] == "send")
        .filter_map(|v| serde_json::from_value::<Envelope>(v["env"].clone()).ok())
        .filter(|e| e.sender == *sender)
        .collect()
}

/// A wrapped key as JSON, from `from` to `to`.
fn wrap_json(from: &IdentityKey, to: &PublicKey, room: &RoomId, epoch: u32, key: &ContentKey) -> Value {
    serde_json::to_value(key_wrap::wrap(from, to, room, epoch, key, testkit::random_bytes())).unwrap()
}

/// Whether a frame is a `welcome`/`room` frame for a key other than the owner's.
fn for_a_member(v: &Value) -> bool {
    matches!(v["t"].as_str(), Some("welcome" | "room")) && v["access"] != "owner"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_server_cannot_substitute_keys_owners_or_members() {
    let data = tempfile::tempdir().unwrap();
    let proxy = Arc::new(HostileProxy::bind().await);
    let server = start_server(data.path(), &["--allow-origin", &proxy.base()]);
    proxy.relay_to(server.http_base().trim_start_matches("http://"));
    let base = proxy.base();
    let driver = Driver::start().await;
    let evil = new_identity();
    let evil_key = ContentKey::from_bytes(testkit::random_bytes());

    let p = proxy.clone();
    with_browsers(&driver, 3, |browsers| async move {
        let (a, b, c) = (&browsers[0], &browsers[1], &browsers[2]);
        let link = app::create_room(a, &base, "Alice-owner", SECRET).await;
        let (room, true_key) = parse_link(&link);
        app::join_room(b, &link, "Bob-member").await;
        wait_for_attr(b, "#connection-status", "data-status", "connected").await;
        // The message of the day is sealed under the room key: members read it, the
        // server stores ciphertext.
        click(a, "#admin-toggle").await;
        fill(a, "#admin-motd", MOTD).await;
        wait_for(a, "#admin-motd").await.send_keys("\u{E007}").await.expect("save the motd");
        wait_for_text(b, ".motd", MOTD).await;
        click(a, "#admin-toggle").await;

        // --- 1. Keys the owner never wrapped, and an epoch it never signed. ---
        let member = Arc::new(Mutex::new(None::<PublicKey>));
        {
            let (member, room, evil, evil_key) = (member.clone(), room.clone(), evil.clone(), evil_key.clone());
            p.rewrite_frames(move |text| {
                let mut v: Value = serde_json::from_str(text).ok()?;
                if !for_a_member(&v) {
                    return None;
                }
                if v["t"] == "welcome" {
                    *member.lock().unwrap() = serde_json::from_value(v["you"].clone()).ok();
                }
                let you = (*member.lock().unwrap())?;
                let owner: PublicKey = serde_json::from_value(v["state"]["owner"].clone()).ok()?;
                let signed_epoch = v["state"]["epoch"].as_u64()? as u32;
                v["state"]["epoch"] = json!(signed_epoch + 1);
                let keys = v["keys"].as_array_mut()?;
                // Wrapped by the server's own key, for the current and the claimed epoch.
                keys.push(wrap_json(&evil, &you, &room, signed_epoch, &evil_key));
                keys.push(wrap_json(&evil, &you, &room, signed_epoch + 1, &evil_key));
                // Claiming to come from the owner, but sealed by the server.
                let mut forged: Value = wrap_json(&evil, &you, &room, signed_epoch + 1, &evil_key);
                forged["from"] = serde_json::to_value(owner).unwrap();
                keys.push(forged);
                Some(v.to_string())
            });
        }
        testkit::browser::reload(b).await;
        let warning = wait_for_text(b, "#security-warning", "did not wrap").await;
        assert!(warning.contains("not signed") || warning.contains("owner signed"), "the epoch bump is named: {warning}");
        assert!(p.rewritten() > 0, "the attack really ran");
        wait_for_attr(b, "#connection-status", "data-status", "connected").await;
        let first = "Bob writes while the server attacks, e2e-4b1d";
        say(b, first).await;
        wait_for_text(a, ".message .message-text", first).await;
        let you_b = member.lock().unwrap().expect("B's welcome was seen");

        // --- 2. A fake owner key (a newcomer, C). ---
        let fake_owner = new_identity();
        let newcomer = Arc::new(Mutex::new(None::<PublicKey>));
        {
            let (room, fake_owner, evil_key) = (room.clone(), fake_owner.clone(), evil_key.clone());
            let newcomer = newcomer.clone();
            p.rewrite_frames(move |text| {
                let mut v: Value = serde_json::from_str(text).ok()?;
                if !for_a_member(&v) {
                    return None;
                }
                let you: PublicKey = serde_json::from_value(v["you"].clone()).ok()?;
                *newcomer.lock().unwrap() = Some(you);
                let fields = StateFields {
                    version: 99,
                    epoch: 0,
                    locked: false,
                    capacity: 50,
                    invite: protocol::invite::invite_key(&room, &evil_key).public_key(),
                    invite_epoch: 0,
                    motd: None,
                    name: None,
                };
                v["state"]["owner"] = serde_json::to_value(fake_owner.public_key()).unwrap();
                v["state"]["signed"] = serde_json::to_value(SignedState::sign(&fake_owner, &room, fields)).unwrap();
                v["keys"] = json!([wrap_json(&fake_owner, &you, &room, 0, &evil_key)]);
                Some(v.to_string())
            });
        }
        app::join_room(c, &link, "Carol-newcomer").await;
        wait_for_text(c, "#security-warning", "owner key that is not this room's").await;
        p.stop_rewriting();
        say(c, "Carol must never send this").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let you_c = newcomer.lock().unwrap().expect("C's welcome was seen");
        assert!(sent_by(&p, &you_c).is_empty(), "a browser that was handed a fake owner sends nothing");

        // --- 3. A member list padded with keys nobody invited; the owner locks. ---
        let (uninvited, wrong_link) = (new_identity(), new_identity());
        {
            let (room, uninvited, wrong_link) = (room.clone(), uninvited.public_key(), wrong_link.public_key());
            p.rewrite_bodies(move |method, path, body| {
                if method != "GET" || !path.ends_with("/owner/members") {
                    return None;
                }
                let mut v: Value = serde_json::from_slice(body).ok()?;
                let guessed = ContentKey::from_bytes(testkit::random_bytes());
                let bad_proof = protocol::invite::InviteProof::make(&room, &guessed, &wrong_link);
                let list = v["members"].as_array_mut()?;
                list.push(json!({"key": uninvited, "status": "member", "first_joined": 1, "online": true}));
                list.push(json!({"key": wrong_link, "status": "member", "first_joined": 2, "online": true, "invite": bad_proof}));
                Some(v.to_string().into_bytes())
            });
        }
        click(a, "#admin-toggle").await;
        let row = wait_for_text(a, ".member", "no invite proof").await;
        assert!(!row.is_empty());
        click(a, "#admin-lock").await;
        wait_for(a, ".lock-tag").await;
        p.stop_rewriting();
        let lock = p
            .requests()
            .into_iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/owner/lock"))
            .expect("the owner's lock went through the proxy");
        let lock: Value = serde_json::from_slice(&lock.body).unwrap();
        let recipients: Vec<PublicKey> =
            lock["keys"].as_array().unwrap().iter().map(|w| serde_json::from_value(w["to"].clone()).unwrap()).collect();
        assert!(recipients.contains(&you_b), "the invited member keeps reading");
        assert!(!recipients.contains(&uninvited.public_key()), "no key for a member the server made up");
        assert!(!recipients.contains(&wrong_link.public_key()), "no key for a proof from another link");

        // B keeps chatting under the new epoch, which the owner wrapped to it, and still
        // reads the message of the day (sealed again under the new key).
        wait_for(b, ".lock-tag").await;
        wait_for_text(b, ".motd", MOTD).await;
        let second = "Bob after the lock, e2e-77c0";
        say(b, second).await;
        wait_for_text(a, ".message .message-text", second).await;

        // --- 4. A crafted link with another key for an epoch B holds. ---
        let crafted = format!("{base}/r/{room}#{}", evil_key.to_b64());
        b.goto(&format!("{base}/")).await.expect("leave the room");
        b.goto(&crafted).await.expect("open the crafted link");
        wait_for_text(b, "#link-conflict", "different key").await;
        let third = "Bob after the crafted link, e2e-1a9e";
        say(b, third).await;
        wait_for_text(a, ".message .message-text", third).await;

        // Nothing B ever sent used a key the server (or the link) substituted.
        let sent = sent_by(&p, &you_b);
        assert!(sent.len() >= 3, "B's messages went through the proxy: {}", sent.len());
        for env in &sent {
            assert!(envelope::open(env, &evil_key).is_err(), "a message under the substituted key");
        }
        let under_epoch_0: Vec<&Envelope> = sent.iter().filter(|e| e.epoch == 0).collect();
        assert!(!under_epoch_0.is_empty());
        for env in under_epoch_0 {
            envelope::open(env, &true_key).expect("epoch 0 messages use the link's true key");
        }
        assert!(sent.iter().all(|e| e.epoch <= 1), "never the epoch only the server claimed");
    })
    .await;
    assert!(
        testkit::scan::files_containing(data.path(), MOTD.as_bytes()).is_empty(),
        "the motd is not stored in clear"
    );
    drop(server);
}
