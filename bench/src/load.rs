//! Client load: senders that pipeline pre-sealed messages, receivers that time every
//! delivery, and idle sockets for the memory measurement.
//!
//! Every message's cid is `b<index>`; the sender records when message `index` left in a
//! shared table, and whoever receives it computes the send→receive latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::baseline::cid_of;
use crate::target::Target;
use testkit::client::Ws;

/// Results of one scenario.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Messages acknowledged per second (for the worker: persisted).
    pub messages_per_sec: f64,
    /// Messages received by any connection, per second.
    pub deliveries_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Messages acknowledged, of the `expected` sent: fewer means a connection stalled
    /// (nothing for the stall time, [`set_stall`]) and the rate covers only what got through.
    pub acked: usize,
    pub expected: usize,
}

impl Stats {
    /// The persisted rate for a report, saying so when the run did not complete.
    pub fn rate_cell(&self) -> String {
        if self.acked < self.expected {
            format!("{:.0} (only {} of {} acked: stalled)", self.messages_per_sec, self.acked, self.expected)
        } else {
            format!("{:.0}", self.messages_per_sec)
        }
    }
}

/// Memory held per connection.
#[derive(Debug, Default, Clone)]
pub struct Memory {
    pub total_kib: u64,
    pub per_connection_kib: f64,
}

/// Give up waiting once nothing arrived for this long (the baseline may drop frames):
/// 5 s unless `--stall-secs` says otherwise.
static STALL_MS: AtomicU64 = AtomicU64::new(5_000);

/// Sets how long a connection may hear nothing before it counts as stalled.
pub fn set_stall(stall: Duration) {
    STALL_MS.store(stall.as_millis() as u64, Ordering::Relaxed);
}

fn stall() -> Duration {
    Duration::from_millis(STALL_MS.load(Ordering::Relaxed))
}

struct Clock {
    epoch: Instant,
    sent_at: Vec<AtomicU64>,
}

impl Clock {
    fn new(messages: usize) -> Arc<Self> {
        Arc::new(Self { epoch: Instant::now(), sent_at: (0..messages).map(|_| AtomicU64::new(0)).collect() })
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn mark_sent(&self, index: usize) {
        self.sent_at[index].store(self.now_us(), Ordering::Relaxed);
    }

    /// Latency of the message a received frame carries, in µs.
    fn latency_of(&self, text: &str) -> Option<u64> {
        let index: usize = cid_of(text)?.strip_prefix('b')?.parse().ok()?;
        let sent = self.sent_at.get(index)?.load(Ordering::Relaxed);
        (sent > 0).then(|| self.now_us().saturating_sub(sent))
    }
}

/// What one connection saw.
#[derive(Default)]
struct Seen {
    acks: usize,
    deliveries: usize,
    latencies: Vec<u64>,
    last_ack_us: u64,
    last_delivery_us: u64,
}

fn is_ack(text: &str) -> bool {
    text.starts_with("{\"t\":\"ack\"")
}

/// Reads until `acks` acks and `deliveries` deliveries arrived (or the stream stalls),
/// interleaving sends from `outgoing` with at most `window` unacknowledged.
async fn drive(
    mut ws: Ws,
    clock: Arc<Clock>,
    mut outgoing: Vec<(usize, String)>,
    window: usize,
    deliveries: usize,
    pace: Option<Duration>,
) -> Seen {
    let mut seen = Seen::default();
    let acks = outgoing.len();
    outgoing.reverse();
    let mut in_flight = 0;
    let mut ticker = tokio::time::interval(pace.unwrap_or(Duration::from_secs(3600)));
    ticker.tick().await;
    loop {
        if pace.is_none() {
            while in_flight < window {
                let Some((index, frame)) = outgoing.pop() else { break };
                clock.mark_sent(index);
                if ws.send(Message::Text(frame.into())).await.is_err() {
                    return seen;
                }
                in_flight += 1;
            }
        }
        if seen.acks >= acks && seen.deliveries >= deliveries {
            return seen;
        }
        tokio::select! {
            _ = ticker.tick(), if pace.is_some() && !outgoing.is_empty() => {
                let (index, frame) = outgoing.pop().expect("not empty");
                clock.mark_sent(index);
                if ws.send(Message::Text(frame.into())).await.is_err() {
                    return seen;
                }
            }
            incoming = tokio::time::timeout(stall(), ws.next()) => match incoming {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let now = clock.now_us();
                    if is_ack(&text) {
                        seen.acks += 1;
                        seen.last_ack_us = now;
                        in_flight = in_flight.saturating_sub(1);
                    } else if let Some(latency) = clock.latency_of(&text) {
                        seen.deliveries += 1;
                        seen.last_delivery_us = now;
                        seen.latencies.push(latency);
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => return seen,
            },
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn summarize(all: Vec<Seen>, start_us: u64, expected: usize) -> Stats {
    let acks: usize = all.iter().map(|s| s.acks).sum();
    let deliveries: usize = all.iter().map(|s| s.deliveries).sum();
    let last_ack = all.iter().map(|s| s.last_ack_us).max().unwrap_or(0);
    let last_delivery = all.iter().map(|s| s.last_delivery_us).max().unwrap_or(0);
    let mut latencies: Vec<u64> = all.into_iter().flat_map(|s| s.latencies).collect();
    latencies.sort_unstable();
    let secs = |end: u64| (end.saturating_sub(start_us)).max(1) as f64 / 1e6;
    Stats {
        messages_per_sec: acks as f64 / secs(last_ack),
        deliveries_per_sec: deliveries as f64 / secs(last_delivery),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        acked: acks,
        expected,
    }
}

/// `senders` connections send `total` messages flat out (each keeps `window` in flight);
/// `receivers` more connections only listen. Everyone counts what reaches them.
pub async fn fanout(
    t: &mut Target,
    room: usize,
    senders: usize,
    receivers: usize,
    total: usize,
    window: usize,
) -> Stats {
    run_room(t, room, senders, receivers, total, window, None).await
}

/// One sender at `rate` messages per second for `duration`, `receivers` listeners: the
/// latency at a sustained, unsaturated load.
pub async fn paced_latency(t: &mut Target, receivers: usize, rate: u32, duration: Duration) -> Stats {
    let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
    run_room(t, 0, 1, receivers, total, 1, Some(Duration::from_secs(1) / rate)).await
}

async fn run_room(
    t: &mut Target,
    room: usize,
    senders: usize,
    receivers: usize,
    total: usize,
    window: usize,
    pace: Option<Duration>,
) -> Stats {
    let clock = Clock::new(total);
    let mut sender_plans = Vec::new();
    for s in 0..senders {
        let (ws, identity) = t.connect(room).await;
        let frames: Vec<(usize, String)> =
            (s..total).step_by(senders).map(|index| (index, t.frame(room, &identity, index))).collect();
        sender_plans.push((ws, frames));
    }
    let mut listeners = Vec::new();
    for _ in 0..receivers {
        listeners.push(t.connect(room).await.0);
    }
    let start = clock.now_us();
    let mut tasks = Vec::new();
    for ws in listeners {
        tasks.push(tokio::spawn(drive(ws, clock.clone(), Vec::new(), 0, total, None)));
    }
    for (ws, frames) in sender_plans {
        let others = total - frames.len();
        tasks.push(tokio::spawn(drive(ws, clock.clone(), frames, window, others, pace)));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("client task"));
    }
    summarize(seen, start, total)
}

/// `rooms` rooms of the target, each with one sender flat out and `receivers` listeners.
pub async fn many_rooms(t: &mut Target, receivers: usize, per_room: usize) -> Stats {
    let rooms = t.room_count();
    let clock = Clock::new(rooms * per_room);
    let mut plans = Vec::new();
    for room in 0..rooms {
        let (ws, identity) = t.connect(room).await;
        let frames: Vec<(usize, String)> =
            (0..per_room).map(|i| room * per_room + i).map(|index| (index, t.frame(room, &identity, index))).collect();
        let mut listeners = Vec::new();
        for _ in 0..receivers {
            listeners.push(t.connect(room).await.0);
        }
        plans.push((ws, frames, listeners));
    }
    let start = clock.now_us();
    let mut tasks = Vec::new();
    for (ws, frames, listeners) in plans {
        for l in listeners {
            tasks.push(tokio::spawn(drive(l, clock.clone(), Vec::new(), 0, per_room, None)));
        }
        tasks.push(tokio::spawn(drive(ws, clock.clone(), frames, 32, 0, None)));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("client task"));
    }
    summarize(seen, start, rooms * per_room)
}

/// Opens `n` connections spread over the target's rooms and measures the server's RSS
/// growth once they sit idle.
pub async fn idle_connections(t: &mut Target, n: usize, settle: Duration) -> Memory {
    let rooms = t.room_count();
    // Warm up: one connection per room loads each room worker before the baseline reading.
    let mut warm = Vec::new();
    for room in 0..rooms {
        warm.push(t.connect(room).await.0);
    }
    // Both readings after the same quiet time (on the edge, objects hibernate when idle).
    tokio::time::sleep(settle).await;
    let before = t.rss_kib();
    let mut sockets = Vec::with_capacity(n);
    let target = &*t;
    let mut joins =
        futures_util::stream::iter(0..n).map(|i| async move { target.connect(i % rooms).await.0 }).buffer_unordered(64);
    while let Some(ws) = joins.next().await {
        sockets.push(ws);
    }
    tokio::time::sleep(settle).await;
    let after = t.rss_kib();
    drop(sockets);
    drop(warm);
    let total_kib = after.saturating_sub(before);
    Memory { total_kib, per_connection_kib: total_kib as f64 / n.max(1) as f64 }
}

/// What `--idle-rooms N` measures: many small rooms, one idle joined connection each.
pub struct IdleRooms {
    pub rooms: usize,
    pub rss_per_room_kib: f64,
    pub threads: u64,
    pub fds_per_room: f64,
    /// Ack latency of the first message into a room whose database was closed (ms).
    pub reopen_p50_ms: f64,
    pub reopen_p99_ms: f64,
}

/// Joins one connection to each of the target's rooms, lets the rooms go quiet (their
/// databases close after `quiet`), then reads RSS, threads and file descriptors against
/// `before` (RSS in KiB and fds of a server without rooms); then
/// sends one message into each of `probes` quiet rooms, one at a time, timing its ack.
pub async fn idle_rooms(t: &mut Target, before: (u64, usize), quiet: Duration, probes: usize) -> IdleRooms {
    let rooms = t.room_count();
    let (before_kib, before_fds) = before;
    let target = &*t;
    let mut joins = futures_util::stream::iter(0..rooms)
        .map(|i| async move {
            let (ws, who) = target.connect(i).await;
            (i, ws, who)
        })
        .buffer_unordered(32);
    let mut sockets = Vec::with_capacity(rooms);
    while let Some(joined) = joins.next().await {
        sockets.push(joined);
    }
    tokio::time::sleep(quiet + Duration::from_secs(2)).await;
    let (rss, threads, fds) = (t.status("VmRSS"), t.status("Threads"), t.open_fds());
    let mut latencies = Vec::new();
    for (i, ws, who) in sockets.iter_mut().take(probes) {
        let frame = t.frame(*i, who, 0);
        let start = Instant::now();
        ws.send(Message::Text(frame.into())).await.expect("send");
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) if text.contains(r#""t":"ack""#) => break,
                Some(Ok(_)) => continue,
                other => panic!("no ack: {other:?}"),
            }
        }
        latencies.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
    drop(sockets);
    IdleRooms {
        rooms,
        rss_per_room_kib: rss.saturating_sub(before_kib) as f64 / rooms.max(1) as f64,
        threads,
        fds_per_room: fds.saturating_sub(before_fds) as f64 / rooms.max(1) as f64,
        reopen_p50_ms: pick(0.5),
        reopen_p99_ms: pick(0.99),
    }
}
