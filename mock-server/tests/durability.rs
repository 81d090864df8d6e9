//! Acknowledged means durable: several clients stream messages, the server is killed with
//! SIGKILL mid-stream and restarted on the same data directory; clients reconnect and
//! resend what was not acknowledged. Every acknowledged message must be there exactly
//! once, under the key it was acknowledged with, in order.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use protocol::content_key::ContentKey;
use protocol::envelope::Envelope;
use protocol::frames::{ClientFrame, ServerFrame};
use protocol::identity::IdentityKey;
use protocol::ids::{MessageKey, RoomId};
use support::{SECRET, server};
use testkit::client::{self, Member, create_room, full_history, new_identity, seal_text};

const CLIENTS: usize = 4;
const PER_CLIENT: usize = 1000;
const WINDOW: usize = 32;

/// One client's view: what it sent and what the room acknowledged.
struct Outcome {
    sender: IdentityKey,
    acked: HashMap<String, MessageKey>,
    reconnects: usize,
}

async fn run_client(
    ws: String,
    room: RoomId,
    key: ContentKey,
    sender: IdentityKey,
    name: String,
    total_acks: Arc<AtomicUsize>,
) -> Outcome {
    let mut unacked: BTreeMap<usize, Envelope> = BTreeMap::new();
    let mut acked: HashMap<String, MessageKey> = HashMap::new();
    let mut next_seq = 0;
    let mut reconnects = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.len() < PER_CLIENT {
        assert!(Instant::now() < deadline, "{name} did not finish");
        let Ok(mut member) = Member::join(&ws, &room, sender.clone()).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        reconnects += 1;
        // Resend everything not yet acknowledged, with the original client ids.
        let mut alive = true;
        for env in unacked.values() {
            let text = serde_json::to_string(&ClientFrame::Send { env: env.clone() }).unwrap();
            if member.try_send_raw(text).await.is_err() {
                alive = false;
                break;
            }
        }
        while alive && acked.len() < PER_CLIENT {
            while next_seq < PER_CLIENT && unacked.len() < WINDOW {
                let cid = format!("{name}-{next_seq}");
                let env = seal_text(&room, &sender, &key, &cid, &name, &format!("{name} message {next_seq}"));
                unacked.insert(next_seq, env.clone());
                next_seq += 1;
                let text = serde_json::to_string(&ClientFrame::Send { env }).unwrap();
                if member.try_send_raw(text).await.is_err() {
                    alive = false;
                    break;
                }
            }
            if !alive {
                break;
            }
            match member.next_within(Duration::from_secs(5)).await {
                Some(ServerFrame::Ack { cid, key }) => {
                    let seq: usize = cid.as_str().rsplit('-').next().unwrap().parse().unwrap();
                    unacked.remove(&seq);
                    if let Some(earlier) = acked.insert(cid.to_string(), key.clone()) {
                        assert_eq!(earlier, key, "{cid} acknowledged twice with different keys");
                    } else {
                        total_acks.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(ServerFrame::Msg { .. }) => {}
                Some(other) => panic!("{name}: unexpected {other:?}"),
                None => alive = false,
            }
        }
    }
    Outcome { sender, acked, reconnects }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_kill_9_exactly_once_and_in_order() {
    let data = tempfile::tempdir().unwrap();
    let mut srv = server(data.path(), &["--rate-per-second", "100000", "--rate-burst", "100000"]);
    let room = create_room(&srv.http_base(), SECRET).await;
    let total_acks = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        clients.push(tokio::spawn(run_client(
            srv.ws_base(),
            room.id.clone(),
            room.key.clone(),
            new_identity(),
            format!("c{i}"),
            total_acks.clone(),
        )));
    }
    // Kill the server while the clients are in full flow.
    let started = Instant::now();
    while total_acks.load(Ordering::Relaxed) < CLIENTS * PER_CLIENT * 2 / 5 {
        assert!(started.elapsed() < Duration::from_secs(60), "clients made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let acked_before_kill = total_acks.load(Ordering::Relaxed);
    srv.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    srv.restart();

    let mut outcomes = Vec::new();
    for c in clients {
        outcomes.push(c.await.unwrap());
    }
    assert!(acked_before_kill < CLIENTS * PER_CLIENT, "the kill happened mid-stream");
    assert!(outcomes.iter().all(|o| o.reconnects >= 2), "every client had to reconnect");

    let history = full_history(&srv.http_base(), &room.id, 500).await;
    assert_eq!(history.len(), CLIENTS * PER_CLIENT, "exactly the acknowledged messages, none twice, none lost");
    let mut seen = HashSet::new();
    let mut previous: Option<MessageKey> = None;
    let mut last_seq_of: HashMap<String, usize> = HashMap::new();
    for m in &history {
        assert!(seen.insert((m.env.sender.to_b64(), m.env.cid.to_string())), "{} delivered twice", m.env.cid);
        if let Some(p) = &previous {
            assert!(*p < m.key, "keys strictly increase");
        }
        previous = Some(m.key.clone());
        let (name, seq) = m.env.cid.as_str().rsplit_once('-').unwrap();
        let seq: usize = seq.parse().unwrap();
        if let Some(last) = last_seq_of.insert(name.to_owned(), seq) {
            assert!(seq > last, "{name}'s messages keep their sending order");
        }
    }
    for o in &outcomes {
        assert_eq!(o.acked.len(), PER_CLIENT);
        for (cid, key) in &o.acked {
            let stored = history.iter().find(|m| m.key == *key).unwrap_or_else(|| panic!("acked {cid} is missing"));
            assert_eq!(stored.env.cid.as_str(), cid);
            assert_eq!(stored.env.sender, o.sender.public_key());
        }
    }

    // KV_global catches up after the crash (the room re-copies what the queue lost).
    let newest = history.last().unwrap().key.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = client::last_message_times(&srv.http_base(), std::slice::from_ref(&room.id)).await;
        if resp.rooms[&room.id].as_ref() == Some(&newest) {
            break;
        }
        assert!(Instant::now() < deadline, "KV_global never caught up after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
