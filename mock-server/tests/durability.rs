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
    acks: Arc<AtomicUsize>,
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
                        acks.fetch_add(1, Ordering::Relaxed);
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
    // Each client's acknowledged count. A room need not serve its senders evenly: on
    // workerd one flooding socket is served first while the others wait (measured; not
    // wrangler's proxy), so the kill waits for 40% of all messages and at least two
    // clients in mid-stream, and every client in mid-stream must reconnect and resend.
    let progress: Vec<Arc<AtomicUsize>> = (0..CLIENTS).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let mut clients = Vec::new();
    for (i, acks) in progress.iter().enumerate() {
        clients.push(tokio::spawn(run_client(
            srv.ws_base(),
            room.id.clone(),
            room.key.clone(),
            new_identity(),
            format!("c{i}"),
            acks.clone(),
        )));
    }
    let counts = || progress.iter().map(|a| a.load(Ordering::Relaxed)).collect::<Vec<_>>();
    let in_flow = |counts: &[usize]| counts.iter().filter(|n| **n > 0 && **n < PER_CLIENT).count();
    let started = Instant::now();
    loop {
        let now = counts();
        if now.iter().sum::<usize>() >= CLIENTS * PER_CLIENT * 2 / 5 && in_flow(&now) >= 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "clients made no progress: {now:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at_kill = counts();
    let acked_before_kill: usize = at_kill.iter().sum();
    srv.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    srv.restart();

    let mut outcomes = Vec::new();
    for c in clients {
        outcomes.push(c.await.unwrap());
    }
    assert!(acked_before_kill < CLIENTS * PER_CLIENT, "the kill happened mid-stream");
    for (o, acked) in outcomes.iter().zip(&at_kill) {
        if *acked < PER_CLIENT {
            assert!(o.reconnects >= 2, "a client in mid-stream at the kill ({at_kill:?}) had to reconnect");
        }
    }

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
