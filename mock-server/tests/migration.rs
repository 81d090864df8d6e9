//! "Take your room elsewhere": the owner downloads a backup from one server, signs it and
//! uploads it to another server process, which verifies and serves the same history.
//! Tampered backups are refused.

mod support;

use protocol::api::CreateAuthorization;
use protocol::api::OwnerCall;
use protocol::backup::{RoomBackup, SignedBackup};
use protocol::error::{ErrorCode, HttpError};
use protocol::frames::ServerFrame;
use protocol::key_wrap;
use protocol::room_state::SealedMotd;
use serde_json::json;
use support::{SECRET, room_files, server};
use testkit::client::{
    self, Member, create_room, new_content_key, new_identity, now_ms, open_text, owner_call, seal_text_at, send_signed,
    sign_request,
};

/// Restores with the admin secret: in one request on mock-server, in pages on the edge
/// (`client::restore_backup`).
async fn restore(http: &str, backup: &SignedBackup) -> Result<serde_json::Value, HttpError> {
    let auth = CreateAuthorization::AdminSecret { secret: SECRET.into() };
    client::restore_backup(http, backup, auth).await.map_err(|(_, e)| e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_backup_moves_the_room_and_tampering_is_refused() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fast = ["--rate-per-second", "1000", "--rate-burst", "1000"];
    let (s1, s2) = (server(d1.path(), &fast), server(d2.path(), &fast));
    let room = create_room(&s1.http_base(), SECRET).await;
    let guest = new_identity();
    let mut owner = Member::join(&s1.ws_base(), &room.id, room.owner.clone()).await.unwrap();
    let mut g = Member::join(&s1.ws_base(), &room.id, guest.clone()).await.unwrap();
    owner.send_burst(&room.key, "o", 30, 8).await;
    g.send_burst(&room.key, "g", 20, 8).await;
    // A locked epoch with a wrapped key, so members and keys travel too.
    let k1 = new_content_key();
    let w = |to: &protocol::identity::IdentityKey| {
        key_wrap::wrap(&room.owner, &to.public_key(), &room.id, 1, &k1, testkit::random_bytes())
    };
    owner_call(
        &s1.http_base(),
        &room.id,
        &room.owner,
        "POST",
        "lock",
        Some(json!({"epoch": 1, "keys": [w(&room.owner), w(&guest)], "state": room.next_state(|f| {
            f.epoch = 1;
            f.locked = true;
        })})),
    )
    .await
    .unwrap();
    let motd = SealedMotd::seal(&room.id, 1, &k1, "moved here", testkit::random_bytes());
    let state = room.next_state(|f| f.motd = Some(motd));
    client::owner(&s1.http_base(), &room.id, &room.owner, &OwnerCall::PutState { state: state.clone() }).await.unwrap();
    owner.send_envelope(seal_text_at(&room.id, &room.owner, &k1, 1, "o-locked", "o", "after the lock")).await;
    loop {
        match owner.next().await {
            Some(ServerFrame::Ack { .. }) => break,
            Some(ServerFrame::Error { error, .. }) => panic!("refused: {error}"),
            Some(_) => continue,
            None => panic!("no ack"),
        }
    }
    let original = {
        // The owner reads the locked room's history through the backup itself.
        let raw = client::owner(&s1.http_base(), &room.id, &room.owner, &OwnerCall::Backup).await.unwrap();
        serde_json::from_value::<RoomBackup>(raw).unwrap()
    };
    assert_eq!(original.messages.len(), 51);
    let signed = original.clone().sign(&room.owner);

    // Tampered copies are refused by the second server, which stays empty.
    let mut flipped = signed.clone();
    flipped.backup.messages[10].env.ct.0[3] ^= 1;
    assert_eq!(restore(&s2.http_base(), &flipped).await.unwrap_err().error.code, ErrorCode::BadBackup);
    let mut motd = signed.clone();
    motd.backup.settings.motd = "hijacked".into();
    assert_eq!(restore(&s2.http_base(), &motd).await.unwrap_err().error.code, ErrorCode::BadBackup);
    let mut dropped = signed.clone();
    dropped.backup.messages.remove(5);
    assert_eq!(restore(&s2.http_base(), &dropped).await.unwrap_err().error.code, ErrorCode::BadBackup);
    let by_someone_else = original.clone().sign(&guest);
    assert_eq!(restore(&s2.http_base(), &by_someone_else).await.unwrap_err().error.code, ErrorCode::BadBackup);
    let mut other_owner = signed.clone();
    other_owner.backup.owner = guest.public_key();
    assert_eq!(restore(&s2.http_base(), &other_owner).await.unwrap_err().error.code, ErrorCode::RoomIdMismatch);
    assert_eq!(room_files(d2.path()), 0);

    // The genuine backup restores, once.
    let created = restore(&s2.http_base(), &signed).await.expect("restore");
    assert_eq!(created["room"], room.id.as_str());
    assert_eq!(restore(&s2.http_base(), &signed).await.unwrap_err().error.code, ErrorCode::RoomExists);

    // The second server serves the same history to the same members.
    let mut there = Member::join(&s2.ws_base(), &room.id, guest.clone()).await.unwrap();
    let signed = there.state.signed.clone().expect("the owner-signed state moved too");
    signed.verify(&room.id, &room.owner.public_key()).unwrap();
    assert_eq!(signed.motd.unwrap().open(&room.id, 1, &k1).unwrap(), "moved here");
    assert!(there.state.locked);
    let k1_there = key_wrap::unwrap(&guest, there.keys.last().unwrap(), &room.id).unwrap();
    assert_eq!(k1_there, k1);
    assert_eq!(open_text(&there.backlog.last().unwrap().env, &k1_there).unwrap(), "after the lock");
    let reread = client::owner(&s2.http_base(), &room.id, &room.owner, &OwnerCall::Backup).await.unwrap();
    let reread: RoomBackup = serde_json::from_value(reread).unwrap();
    assert_eq!(reread.messages, original.messages, "the same messages, byte for byte, in the same order");
    assert_eq!(reread.members.len(), original.members.len());
    // Resending an old message (same client id) is recognised as a duplicate there too.
    let old = original.messages.iter().find(|m| m.env.sender == guest.public_key()).unwrap().clone();
    there.send_envelope(old.env.clone()).await;
    match there.next().await {
        Some(ServerFrame::Ack { key, .. }) => assert_eq!(key, old.key),
        other => panic!("{other:?}"),
    }
    // And the room goes on: new messages get later keys.
    there.send_envelope(seal_text_at(&room.id, &guest, &k1, 1, "g-new", "g", "hello from the new server")).await;
    match there.next().await {
        Some(ServerFrame::Ack { key, .. }) => assert!(key > original.messages.last().unwrap().key),
        other => panic!("{other:?}"),
    }
    // A member reads the history over HTTP from the second server (signed: the room is locked).
    let path = format!("/api/rooms/{}/history?limit=500", room.id);
    let auth = sign_request(&guest, "GET", &path, b"", now_ms());
    let page = send_signed(&s2.http_base(), "GET", &path, b"", &auth).await.unwrap();
    assert_eq!(page["messages"].as_array().unwrap().len(), 52, "51 moved + 1 new (the resend was a duplicate)");
}
