//! Many live rooms cost little while idle: rooms are tasks (the thread count does not grow
//! with them), a quiet room closes its database while its sockets stay joined and reopens
//! it with the next command without losing order, dedup or durability.

mod support;

use std::time::{Duration, Instant};

use protocol::frames::{ClientFrame, ServerFrame};
use std::collections::BTreeSet;

use support::{SECRET, open_room_databases, open_room_files, proc_status, server};
use testkit::client::{Member, TestRoom, create_room, full_history, history, new_identity};

/// Waits (up to `limit`) until `done` holds.
async fn eventually(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} did not happen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const ROOMS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_live_rooms_share_a_few_threads_and_quiet_rooms_close_their_databases() {
    let data = tempfile::tempdir().unwrap();
    let mut srv = server(data.path(), &["--room-quiet-secs", "1", "--max-connections-per-ip", "1000"]);
    let (http, ws) = (srv.http_base(), srv.ws_base());
    let pid = srv.pid().unwrap();
    let mut rooms: Vec<(TestRoom, Member)> = Vec::new();
    for _ in 0..ROOMS {
        let room = create_room(&http, SECRET).await;
        let member = Member::join(&ws, &room.id, new_identity()).await.unwrap();
        rooms.push((room, member));
    }
    // Rooms are tasks: the threads are the runtime's and its bounded blocking lane's,
    // whatever the number of rooms (300 threads before).
    let threads = proc_status(pid, "Threads");
    assert!(threads < 48, "{ROOMS} live rooms use {threads} threads");
    // Quiet for a second: every room closed its database, the sockets stay joined.
    eventually(Duration::from_secs(10), "closing the quiet rooms' databases", || open_room_files(pid) == 0).await;

    // A room that closed its database delivers in order, without duplicates after a
    // resend; the database reopens for it.
    for (room, member) in rooms.iter_mut().take(5) {
        let first = member.say(&room.key, "after-quiet-1", "one").await;
        member.say(&room.key, "after-quiet-2", "two").await;
        member.send_frame(&ClientFrame::Send { env: first }).await; // a resend
        let mut acks = Vec::new();
        while acks.len() < 3 {
            match member.next_within(Duration::from_secs(10)).await {
                Some(ServerFrame::Ack { cid, key }) => acks.push((cid.to_string(), key)),
                Some(ServerFrame::Room { .. }) => {}
                other => panic!("expected acks, got {other:?}"),
            }
        }
        assert_eq!(acks[0].0, "after-quiet-1");
        assert_eq!(acks[2], acks[0], "the resend is answered with the original key");
        assert!(acks[0].1.as_str() < acks[1].1.as_str(), "in order");
        let history = full_history(&http, &room.id, 100).await;
        let cids: Vec<&str> = history.iter().map(|m| m.env.cid.as_str()).collect();
        assert_eq!(cids, ["after-quiet-1", "after-quiet-2"], "each message once");
    }
    assert!(open_room_files(pid) > 0, "busy rooms reopened their databases");

    // Everything quiet again; then a burst into many closed rooms, killed with SIGKILL
    // while they reopen: every acknowledged message survives.
    eventually(Duration::from_secs(10), "closing the databases again", || open_room_files(pid) == 0).await;
    for (i, (room, member)) in rooms.iter_mut().enumerate().skip(5).take(100) {
        member.say(&room.key, &format!("burst-{i}"), "burst").await;
    }
    let mut acked = Vec::new();
    for (i, (room, member)) in rooms.iter_mut().enumerate().skip(5).take(100) {
        if i == 30 {
            srv.kill9();
        }
        match member.next_within(Duration::from_millis(300)).await {
            Some(ServerFrame::Ack { cid, key }) => acked.push((room.id.clone(), cid.to_string(), key)),
            _ => continue,
        }
    }
    srv.restart();
    let http = srv.http_base();
    for (room, cid, key) in &acked {
        let history = full_history(&http, room, 100).await;
        assert!(
            history.iter().any(|m| m.env.cid.as_str() == cid && m.key == *key),
            "the acknowledged {cid} is stored under its key after the kill"
        );
    }
    assert!(!acked.is_empty(), "some messages were acknowledged before the kill");
}

/// Makes `n` rooms one after another; counts the `unavailable` answers retried on the way.
async fn make_rooms(http: &str, n: usize) -> (Vec<TestRoom>, usize) {
    let (mut rooms, mut unavailable) = (Vec::new(), 0);
    while rooms.len() < n {
        let candidate = TestRoom::fresh();
        match candidate.register(http, protocol::api::CreateAuthorization::AdminSecret { secret: SECRET.into() }).await
        {
            Ok(_) => rooms.push(candidate),
            Err((503, e)) => {
                assert_eq!(e.error.code, protocol::error::ErrorCode::Unavailable);
                unavailable += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    (rooms, unavailable)
}

/// Every room at once: joins and sends one message each, retrying joins refused with 1012
/// (and sends closed as unavailable, with the same cid) until all are acknowledged; checks
/// that never more than `bound` databases are open and each message is stored once.
/// Returns the refused joins.
async fn everyone_at_once(srv: &testkit::backend::TestServer, rooms: &[TestRoom], bound: usize) -> usize {
    let (http, ws, pid) = (srv.http_base(), srv.ws_base(), srv.pid().unwrap());
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = rooms
        .iter()
        .map(|room| {
            let (ws, id, key, refused) = (ws.clone(), room.id.clone(), room.key.clone(), refused.clone());
            tokio::spawn(async move {
                let me = new_identity();
                for attempt in 0.. {
                    assert!(attempt < 200, "never got in");
                    match Member::join(&ws, &id, me.clone()).await {
                        Ok(mut member) => {
                            member.say(&key, "through", "made it").await;
                            if let Some(ServerFrame::Ack { .. }) = member.next_within(Duration::from_secs(10)).await {
                                return;
                            }
                        }
                        Err(no) => {
                            assert!(no.close.is_none_or(|c| c == 1012), "{no:?}");
                            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();
    let (start, mut max_open) = (Instant::now(), 0);
    while tasks.iter().any(|t| !t.is_finished()) {
        max_open = max_open.max(open_room_files(pid));
        assert!(start.elapsed() < Duration::from_secs(60), "the rooms did not all get through");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(max_open <= bound * 3, "{max_open} room files open with a bound of {bound} databases");
    for room in rooms {
        // One page holds it all; a read that finds every slot taken is `unavailable` too.
        let page = loop {
            match history(&http, &room.id, None, Some(100)).await {
                Ok(page) => break page,
                Err(e) => assert_eq!(e.error.code, protocol::error::ErrorCode::Unavailable, "{e:?}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(!page.more);
        assert_eq!(page.messages.iter().filter(|m| m.env.cid.as_str() == "through").count(), 1, "once, not lost");
    }
    refused.load(std::sync::atomic::Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_bound_of_open_databases_the_least_recently_used_quiet_room_closes_its_database_for_the_next() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &["--max-open-rooms", "6", "--room-quiet-secs", "30"]);
    let pid = srv.pid().unwrap();
    // One after another: past the sixth, each new room takes the slot of the least recently
    // used one (not quiet long enough to close on its own): nobody is refused, and the six
    // newest rooms are the open ones.
    let (rooms, unavailable) = make_rooms(&srv.http_base(), 24).await;
    assert_eq!(unavailable, 0, "no creation was refused: quiet rooms made way");
    let ids =
        |range: std::ops::Range<usize>| -> BTreeSet<String> { rooms[range].iter().map(|r| r.id.to_string()).collect() };
    eventually(Duration::from_secs(5), "the six newest rooms open", || open_room_databases(pid) == ids(18..24)).await;
    // Using the oldest room again closes the least recently used of those six (room 18).
    let mut member = Member::join(&srv.ws_base(), &rooms[0].id, new_identity()).await.unwrap();
    member.say(&rooms[0].key, "again", "back").await;
    assert!(matches!(member.next_within(Duration::from_secs(10)).await, Some(ServerFrame::Ack { .. })));
    let mut expected = ids(19..24);
    expected.insert(rooms[0].id.to_string());
    eventually(Duration::from_secs(5), "room 18 made way for room 0", || open_room_databases(pid) == expected).await;
    assert!(everyone_at_once(&srv, &rooms, 6).await < rooms.len(), "most got in at the first try");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_bound_with_every_database_busy_rooms_answer_unavailable_and_clients_get_through_on_retry() {
    let data = tempfile::tempdir().unwrap();
    // No wait for a slot: a room that finds the bound reached answers `unavailable` at once.
    let srv = server(data.path(), &["--max-open-rooms", "6", "--room-quiet-secs", "30", "--open-room-wait-ms", "0"]);
    let (rooms, _) = make_rooms(&srv.http_base(), 24).await;
    let refused = everyone_at_once(&srv, &rooms, 6).await;
    assert!(refused > 0, "the bound was reached (joins were refused)");
}
