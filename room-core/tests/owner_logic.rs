//! The owner's calls, locking and key epochs, signed-request nonces, storage tokens and
//! backups, tested on the room engine itself (no server process), with a controlled
//! clock.

mod support;

use cloakroom_room_core::{KvStore, ListQuery, MemoryKv, Reader, Room, RoomConfig, UnixMicros};
use protocol::api::{BudgetView, IssuedToken, MembersView, OwnerCall, RoomSettings};
use protocol::backup::{MemberStatus, RoomBackup};
use protocol::content_key::ContentKey;
use protocol::error::ErrorCode;
use protocol::frames::{ClientFrame, ServerFrame};
use protocol::key_wrap;
use protocol::signed_request::MAX_CLOCK_SKEW_MS;
use support::*;

fn ok<T: serde::de::DeserializeOwned>(reply: cloakroom_room_core::effects::Reply) -> T {
    serde_json::from_value(reply.expect("the call succeeds")).expect("the answer has its documented shape")
}

fn code(reply: cloakroom_room_core::effects::Reply) -> ErrorCode {
    reply.expect_err("the call is refused").code
}

#[test]
fn only_the_owner_may_call_and_each_request_counts_once() {
    let mut w = world(RoomConfig::default());
    let (owner, guest) = (w.owner.clone(), identity(2));
    w.join(2, &guest);
    assert_eq!(code(w.call(&guest, OwnerCall::Settings, 1)), ErrorCode::Forbidden);
    let settings: RoomSettings = ok(w.call(&owner, OwnerCall::Settings, 2));
    assert_eq!((settings.locked, settings.epoch), (false, 0));
    // The same nonce again: refused, whether in a later batch or the same one.
    assert_eq!(code(w.call(&owner, OwnerCall::Settings, 2)), ErrorCode::ReplayedRequest);
    let call = OwnerCall::Budget;
    let path = call.path(w.room.id());
    let now_ms = w.now / 1000;
    let twice = w.request(&owner, "GET", &path, b"", now_ms, 3);
    w.room.owner_call(1, &twice, OwnerCall::Budget, UnixMicros(w.now), [0; 32], &w.store);
    w.room.owner_call(2, &twice, OwnerCall::Budget, UnixMicros(w.now), [0; 32], &w.store);
    let mut committed = w.room.finish_batch(&mut w.store, &mut w.sockets).unwrap();
    let answers = committed.answers(&Default::default());
    assert!(answers[0].1.is_ok());
    assert_eq!(answers[1].1.as_ref().unwrap_err().code, ErrorCode::ReplayedRequest);
}

#[test]
fn requests_outside_the_clock_window_are_stale_and_used_nonces_expire_with_it() {
    let mut w = world(RoomConfig::default());
    let owner = w.owner.clone();
    w.now = 1_000_000_000_000; // a realistic clock (ms × 1000)
    let now_ms = w.now / 1000;
    let late = now_ms - MAX_CLOCK_SKEW_MS - 1;
    assert_eq!(code(w.call_at(&owner, OwnerCall::Settings, late, 1)), ErrorCode::StaleRequest);
    assert_eq!(
        code(w.call_at(&owner, OwnerCall::Settings, now_ms + MAX_CLOCK_SKEW_MS + 1, 1)),
        ErrorCode::StaleRequest
    );
    let edge: RoomSettings = ok(w.call_at(&owner, OwnerCall::Settings, now_ms - MAX_CLOCK_SKEW_MS, 4));
    assert!(!edge.locked, "the edge of the window is fresh");
    let nonce_rows = |w: &World| w.store.list(&ListQuery::forwards("~nonce", 100)).unwrap().len();
    assert!(nonce_rows(&w) > 0, "a used nonce is kept");
    // Once its request could no longer be fresh, a later request purges it.
    w.now += (2 * MAX_CLOCK_SKEW_MS + 1) * 1000;
    let _: RoomSettings = ok(w.call(&owner, OwnerCall::Settings, 5));
    let kept: Vec<String> =
        w.store.list(&ListQuery::forwards("~nonce", 100)).unwrap().into_iter().map(|(k, _)| k).collect();
    let old = protocol::encoding::b64(&[4u8; 16]);
    assert!(kept.iter().all(|k| !k.contains(&old)), "the expired nonce is gone: {kept:?}");
}

#[test]
fn a_lock_starts_the_next_epoch_and_a_refused_lock_changes_nothing() {
    let mut w = world(RoomConfig::default());
    let (owner, guest) = (w.owner.clone(), identity(2));
    w.join(1, &owner);
    w.join(2, &guest);
    let room = w.room.id().clone();
    let k1 = ContentKey::from_bytes([7; 32]);
    let keys: Vec<_> =
        [&owner, &guest].iter().map(|to| key_wrap::wrap(&owner, &to.public_key(), &room, 1, &k1, [1; 12])).collect();
    let writes_before = w.store.len();
    // A wrong epoch (the next is 1), then a state that does not describe the lock.
    let locked = w.next_state(|f| {
        f.epoch = 2;
        f.locked = true;
    });
    let wrong = OwnerCall::Lock { epoch: 2, keys: keys.clone(), state: locked };
    assert_eq!(code(w.call(&owner, wrong, 1)), ErrorCode::MalformedRequest);
    let unlocked = w.next_state(|f| f.epoch = 1);
    let mismatch = OwnerCall::Lock { epoch: 1, keys: keys.clone(), state: unlocked };
    assert_eq!(code(w.call(&owner, mismatch, 2)), ErrorCode::BadState);
    assert_eq!((w.room.meta().epoch, w.room.meta().locked), (0, false));
    assert_eq!(w.store.len(), writes_before, "a refused call stores nothing, not even its nonce");
    w.sockets.take(1);
    w.sockets.take(2);

    let state = w.next_state(|f| {
        f.epoch = 1;
        f.locked = true;
    });
    let settings: RoomSettings = ok(w.call(&owner, OwnerCall::Lock { epoch: 1, keys, state }, 3));
    assert_eq!((settings.epoch, settings.locked), (1, true));
    // The guest hears of the new epoch with its key; a message under the old one is stale.
    let frames = w.sockets.frames.remove(&2).unwrap_or_default();
    assert!(
        frames.iter().any(|f| matches!(f, ServerFrame::Room { state, keys, .. }
        if state.epoch == 1 && keys.iter().any(|k| k.epoch == 1))),
        "{frames:?}"
    );
    let old = w.envelope(&guest, "old-epoch", "x");
    w.frame(2, &ClientFrame::Send { env: old });
    w.flush();
    assert_eq!(error_code(&w.sockets.take(2)), Some(ErrorCode::StaleEpoch));
    // A locked room answers history only to signed requests.
    let page = w.room.history(&w.store, None, None, Reader::Anonymous, UnixMicros(w.now));
    assert_eq!(page.unwrap_err().code, ErrorCode::Unauthorized);
}

#[test]
fn tokens_are_paid_from_the_budget_and_a_member_only_up_to_its_allowance() {
    let mut w = world(RoomConfig::default());
    let (owner, guest) = (w.owner.clone(), identity(2));
    w.join(2, &guest);
    let before: BudgetView = ok(w.call(&owner, OwnerCall::Budget, 1));
    let token: IssuedToken = ok(w.call(&owner, OwnerCall::IssueToken { size: 1 << 20 }, 2));
    assert_eq!(token.remaining, before.remaining - token.size);
    let too_much = before.remaining + (64 << 20);
    assert_eq!(code(w.call(&owner, OwnerCall::IssueToken { size: too_much }, 3)), ErrorCode::BudgetExhausted);
    let after: BudgetView = ok(w.call(&owner, OwnerCall::Budget, 4));
    assert_eq!((after.remaining, after.tokens_issued), (token.remaining, 1), "the refused token cost nothing");

    // A member's token: within the allowance it is issued (and recorded with its answer),
    // past it refused with nothing charged.
    let _: RoomSettings = ok(w.call(&owner, OwnerCall::SetAllowance { allowance: 2 << 20 }, 5));
    let member_token = |w: &mut World, size: u64, nonce: u8| {
        let body = serde_json::to_vec(&serde_json::json!({ "size": size })).unwrap();
        let path = format!("/api/rooms/{}/tokens", w.room.id());
        let request = w.request(&guest, "POST", &path, &body, w.now / 1000, nonce);
        w.room.member_token(9, &request, size, UnixMicros(w.now), [nonce; 32], &w.store);
        let mut committed = w.room.finish_batch(&mut w.store, &mut w.sockets).unwrap();
        let recorded = committed.tokens.iter().filter(|t| t.reply == 9).count();
        (committed.answers(&Default::default()).remove(0).1, recorded)
    };
    let (first, recorded) = member_token(&mut w, 1 << 20, 6);
    assert!(first.is_ok());
    assert_eq!(recorded, 1, "the token goes to the ledger with its answer");
    let (second, recorded) = member_token(&mut w, 2 << 20, 7);
    assert_eq!(second.unwrap_err().code, ErrorCode::AllowanceExhausted);
    assert_eq!(recorded, 0);
    let members: MembersView = ok(w.call(&owner, OwnerCall::Members, 8));
    let spent = members.members.iter().find(|m| m.key == guest.public_key()).map(|m| m.spent);
    assert_eq!(spent, Some(1 << 20), "only the issued token counts against the guest");
}

#[test]
fn a_backup_restores_into_an_empty_store_as_the_same_room() {
    let mut w = world(RoomConfig::default());
    let (owner, guest) = (w.owner.clone(), identity(2));
    w.join(1, &owner);
    w.join(2, &guest);
    for i in 0..3 {
        let env = w.envelope(&guest, &format!("g{i}"), "kept");
        w.frame(2, &ClientFrame::Send { env });
        w.now += 1000;
    }
    w.flush();
    let backup: RoomBackup = ok(w.call(&owner, OwnerCall::Backup, 1));
    assert_eq!(backup.messages.len(), 3);
    let config = RoomConfig::default();
    let mut fresh = MemoryKv::default();
    fresh.commit(Room::import_batch(&backup, 1 << 30, UnixMicros(w.now), &config).unwrap()).unwrap();
    let restored = Room::load(backup.room.clone(), &fresh, config).unwrap().expect("the restored room loads");
    assert_eq!(restored.member_status(&guest.public_key()), Some(MemberStatus::Member));
    let mut restored = restored;
    let page = restored.history(&fresh, None, None, Reader::Anonymous, UnixMicros(w.now)).unwrap();
    let original = w.room.history(&w.store, None, None, Reader::Anonymous, UnixMicros(w.now)).unwrap();
    assert_eq!(page.messages, original.messages, "the same messages, byte for byte, in order");
    // A backup made "in the future" (past this server's clock and skew) is refused.
    let mut ahead = backup.clone();
    ahead.exported_at = w.now + 3_600_000_000;
    let ahead = Room::import_batch(&ahead, 1 << 30, UnixMicros(w.now), &RoomConfig::default());
    assert_eq!(ahead.unwrap_err().code, ErrorCode::BadBackup);
}
