//! `room-bench`: measures the room worker (mock-server, persistence on) and a bare
//! in-memory axum broadcast baseline with the same clients, in the same run.
//!
//! `cargo run --release -p cloakroom-bench --bin room-bench` prints a markdown report;
//! `--target edge` compares mock-server with the edge on local workerd instead.
//! docs/BENCHMARKS.md holds the figures and the exact command.

mod baseline;
mod load;
mod target;

use std::time::Duration;

use clap::Parser;

use crate::load::{Stats, fanout, idle_connections, idle_rooms, many_rooms, paced_latency};
use crate::target::{Kind, Target};

#[derive(Parser)]
#[command(about = "Room worker vs bare broadcast baseline")]
struct Args {
    /// Run the baseline server (used internally: the bench starts itself as a child).
    #[arg(long, hide = true)]
    baseline_server: Option<std::net::SocketAddr>,
    /// Smaller numbers for a quick check.
    #[arg(long)]
    quick: bool,
    /// Idle sockets for the memory measurement.
    #[arg(long, default_value_t = 10_000)]
    idle_sockets: usize,
    /// Also measure N live rooms with one idle joined connection each (0: skip).
    #[arg(long, default_value_t = 0)]
    idle_rooms: usize,
    /// Instead of the report: the throughput scenarios on another mock-server build (BIN)
    /// and on this one, alternately, `--pairs` times each, with medians.
    #[arg(long, value_name = "BIN")]
    against: Option<std::path::PathBuf>,
    /// Only the `--idle-rooms` scenario (skips the throughput and idle-socket ones).
    #[arg(long)]
    only_idle_rooms: bool,
    /// Runs of each build per scenario with `--against`.
    #[arg(long, default_value_t = 3)]
    pairs: usize,
    /// Instead of the report: the throughput scenarios on mock-server and on the edge (the
    /// release Worker bundle on local workerd: `./dev edge-build` first), side by side.
    #[arg(long, value_parser = ["edge"])]
    target: Option<String>,
    /// Only these throughput scenarios (repeatable): eight-senders, fan-out, paced,
    /// many-rooms. With `--target edge` the idle-socket measurement is skipped too.
    #[arg(long, value_enum)]
    only: Vec<Scenario>,
    /// Seconds without any frame after which a connection counts as stalled.
    #[arg(long, default_value_t = 5)]
    stall_secs: u64,
}

/// The throughput scenarios, each on a fresh server.
#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Scenario {
    EightSenders,
    FanOut,
    Paced,
    ManyRooms,
}

impl Scenario {
    const ALL: [Scenario; 4] = [Scenario::EightSenders, Scenario::FanOut, Scenario::Paced, Scenario::ManyRooms];

    fn name(self) -> &'static str {
        match self {
            Scenario::EightSenders => "1 room, 8 senders flat out (window 64), no other receivers",
            Scenario::FanOut => "1 room, 1 sender flat out, 100 receivers",
            Scenario::Paced => "1 room, 100 msgs/s paced, 100 receivers (latency)",
            Scenario::ManyRooms => "50 rooms × (1 sender flat out + 4 receivers)",
        }
    }

    /// The figure compared across builds: msgs/s, or the p99 in ms for the paced one.
    fn figure(self, s: &Stats) -> f64 {
        match self {
            Scenario::Paced => s.p99_ms,
            _ => s.messages_per_sec,
        }
    }

    async fn run(self, kind: Kind, scale: usize) -> Stats {
        let rooms = if matches!(self, Scenario::ManyRooms) { 50 } else { 1 };
        let mut t = Target::start(kind, rooms).await;
        let s = match self {
            Scenario::EightSenders => fanout(&mut t, 0, 8, 0, 40_000 / scale, 64).await,
            Scenario::FanOut => fanout(&mut t, 0, 1, 100, 4_000 / scale, 32).await,
            Scenario::Paced => paced_latency(&mut t, 100, 100, Duration::from_secs(10 / scale as u64)).await,
            Scenario::ManyRooms => many_rooms(&mut t, 4, 2_000 / scale).await,
        };
        t.stop();
        s
    }
}

/// `--against BIN`: each scenario on BIN and on this build, alternately, `pairs` times.
async fn compare(against: &'static std::path::Path, pairs: usize, scale: usize, scenarios: &[Scenario]) {
    println!("| scenario | {} (previous) | this build | this / previous (medians) |", against.display());
    println!("|---|---|---|---|");
    for &scenario in scenarios {
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for _ in 0..pairs {
            old.push(scenario.figure(&scenario.run(Kind::WorkerAt(against), scale).await));
            new.push(scenario.figure(&scenario.run(Kind::Worker, scale).await));
        }
        let list = |v: &[f64]| v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(", ");
        let (mo, mn) = (median(&old), median(&new));
        println!(
            "| {} | {} (median {mo:.1}) | {} (median {mn:.1}) | {:.2}× |",
            scenario.name(),
            list(&old),
            list(&new),
            if mo > 0.0 { mn / mo } else { 0.0 }
        );
    }
}

/// `--target edge`: each throughput scenario on mock-server, then on the edge through
/// wrangler's dev proxy, then on the edge's own workerd socket (as deployed, no proxy).
async fn edge_report(scale: usize, idle: usize, scenarios: &[Scenario]) {
    println!(
        "| scenario | persisted msgs/s mock-server / edge / edge direct | deliveries/s mock-server / edge / edge direct | p50 ms mock-server / edge / edge direct | p99 ms mock-server / edge / edge direct |"
    );
    println!("|---|---|---|---|---|");
    for &scenario in scenarios {
        let m = scenario.run(Kind::Worker, scale).await;
        let e = scenario.run(Kind::Edge, scale).await;
        let d = scenario.run(Kind::EdgeDirect, scale).await;
        println!(
            "| {} | {} / {} / {} | {:.0} / {:.0} / {:.0} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} |",
            scenario.name(),
            m.rate_cell(),
            e.rate_cell(),
            d.rate_cell(),
            m.deliveries_per_sec,
            e.deliveries_per_sec,
            d.deliveries_per_sec,
            m.p50_ms,
            e.p50_ms,
            d.p50_ms,
            m.p99_ms,
            e.p99_ms,
            d.p99_ms
        );
    }
    if idle == 0 {
        return;
    }
    // Idle joined sockets, on the Worker's own workerd (the dev proxy would hold a second
    // copy of each); its objects hibernate once idle, so a socket costs the runtime's
    // bookkeeping and the attachment, not a live object.
    let rooms = idle.div_ceil(50);
    let mut t = Target::start(Kind::Worker, rooms).await;
    let w = idle_connections(&mut t, idle, Duration::from_secs(2)).await;
    t.stop();
    let mut t = Target::start(Kind::EdgeDirect, rooms).await;
    // Durable Objects hibernate after about 10 s without events.
    let e = idle_connections(&mut t, idle, Duration::from_secs(15)).await;
    t.stop();
    println!(
        "\nIdle sockets: {idle} joined connections in {rooms} rooms; RSS grew {:.1} MiB on mock-server \
         ({:.1} KiB per connection) and {:.1} MiB over every workerd of the edge ({:.1} KiB per connection).",
        w.total_kib as f64 / 1024.0,
        w.per_connection_kib,
        e.total_kib as f64 / 1024.0,
        e.per_connection_kib
    );
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn row(name: &str, worker: &Stats, base: &Stats) -> String {
    let ratio = if base.deliveries_per_sec > 0.0 { worker.deliveries_per_sec / base.deliveries_per_sec } else { 0.0 };
    format!(
        "| {name} | {} | {:.0} / {:.0} ({ratio:.2}×) | {:.1} / {:.1} | {:.1} / {:.1} |",
        worker.rate_cell(),
        worker.deliveries_per_sec,
        base.deliveries_per_sec,
        worker.p50_ms,
        base.p50_ms,
        worker.p99_ms,
        base.p99_ms
    )
}

fn main() {
    let args = Args::parse();
    raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if let Some(listen) = args.baseline_server {
        runtime.block_on(baseline::serve(listen));
        return;
    }
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let scale = if args.quick { 5 } else { 1 };
    load::set_stall(Duration::from_secs(args.stall_secs.max(1)));
    let scenarios = if args.only.is_empty() { Scenario::ALL.to_vec() } else { args.only.clone() };
    if let Some(bin) = args.against {
        let bin: &'static std::path::Path = Box::leak(bin.into_boxed_path());
        return compare(bin, args.pairs.max(1), scale, &scenarios).await;
    }
    if args.target.is_some() {
        let idle = if args.only.is_empty() { args.idle_sockets / scale } else { 0 };
        return edge_report(scale, idle, &scenarios).await;
    }
    let mut lines = vec![
        "| scenario | worker persisted msgs/s | deliveries/s worker / baseline (ratio) | p50 ms worker / baseline | p99 ms worker / baseline |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];

    let idle = args.idle_sockets / scale;
    let sockets = if args.only_idle_rooms {
        None
    } else {
        for &scenario in &scenarios {
            let w = scenario.run(Kind::Worker, scale).await;
            let b = scenario.run(Kind::Baseline, scale).await;
            lines.push(row(scenario.name(), &w, &b));
        }

        let mut t = Target::start(Kind::Worker, idle.div_ceil(50)).await;
        let w = idle_connections(&mut t, idle, Duration::from_secs(2)).await;
        t.stop();
        let mut t = Target::start(Kind::Baseline, idle.div_ceil(50)).await;
        let b = idle_connections(&mut t, idle, Duration::from_secs(2)).await;
        t.stop();
        Some((w, b))
    };

    let idle_rooms = if args.idle_rooms > 0 {
        // The server's footprint before any room exists, then N rooms made and joined.
        let mut t = Target::start_with(Kind::Worker, 0, &["--room-quiet-secs", "5"]).await;
        let before = (t.status("VmRSS"), t.open_fds());
        t.stop();
        let mut t = Target::start_with(Kind::Worker, args.idle_rooms, &["--room-quiet-secs", "5"]).await;
        let r = idle_rooms(&mut t, before, Duration::from_secs(5), 200.min(args.idle_rooms)).await;
        t.stop();
        Some(r)
    } else {
        None
    };

    if let Some((w_mem, b_mem)) = sockets {
        println!("\n{}\n", lines.join("\n"));
        println!(
            "Idle sockets: {idle} joined connections; server RSS grew {:.1} MiB: {:.1} KiB per connection (baseline: {:.1} KiB).",
            w_mem.total_kib as f64 / 1024.0,
            w_mem.per_connection_kib,
            b_mem.per_connection_kib
        );
    }
    if let Some(r) = idle_rooms {
        println!(
            "Idle rooms: {} live rooms × 1 idle joined connection, databases closed after 5 s quiet: \
             {:.1} KiB RSS per room, {} threads, {:.2} file descriptors per room; first message into a \
             quiet room (reopening its database): ack p50 {:.1} ms, p99 {:.1} ms.",
            r.rooms, r.rss_per_room_kib, r.threads, r.fds_per_room, r.reopen_p50_ms, r.reopen_p99_ms
        );
    }
}

fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
