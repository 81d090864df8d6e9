//! `room-bench`: measures the room worker (mock-server, persistence on) and a bare
//! in-memory axum broadcast baseline with the same clients, in the same run.
//!
//! `cargo run --release -p cloakroom-bench --bin room-bench` prints a markdown report;
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
}

fn row(name: &str, worker: &Stats, base: &Stats) -> String {
    let ratio = if base.deliveries_per_sec > 0.0 { worker.deliveries_per_sec / base.deliveries_per_sec } else { 0.0 };
    format!(
        "| {name} | {:.0} | {:.0} / {:.0} ({ratio:.2}×) | {:.1} / {:.1} | {:.1} / {:.1} |",
        worker.messages_per_sec,
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
    let mut lines = vec![
        "| scenario | worker persisted msgs/s | deliveries/s worker / baseline (ratio) | p50 ms worker / baseline | p99 ms worker / baseline |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];

    let one_room = |kind| async move {
        let mut t = Target::start(kind, 1).await;
        let s = fanout(&mut t, 0, 8, 0, 40_000 / scale, 64).await;
        t.stop();
        s
    };
    let (w, b) = (one_room(Kind::Worker).await, one_room(Kind::Baseline).await);
    lines.push(row("1 room, 8 senders flat out (window 64), no other receivers", &w, &b));

    let fan = |kind| async move {
        let mut t = Target::start(kind, 1).await;
        let s = fanout(&mut t, 0, 1, 100, 4_000 / scale, 32).await;
        t.stop();
        s
    };
    let (w, b) = (fan(Kind::Worker).await, fan(Kind::Baseline).await);
    lines.push(row("1 room, 1 sender flat out, 100 receivers", &w, &b));

    let paced = |kind| async move {
        let mut t = Target::start(kind, 1).await;
        let s = paced_latency(&mut t, 100, 100, Duration::from_secs(10 / scale as u64)).await;
        t.stop();
        s
    };
    let (w, b) = (paced(Kind::Worker).await, paced(Kind::Baseline).await);
    lines.push(row("1 room, 100 msgs/s paced, 100 receivers (latency)", &w, &b));

    let rooms = |kind| async move {
        let mut t = Target::start(kind, 50).await;
        let s = many_rooms(&mut t, 4, 2_000 / scale).await;
        t.stop();
        s
    };
    let (w, b) = (rooms(Kind::Worker).await, rooms(Kind::Baseline).await);
    lines.push(row("50 rooms × (1 sender flat out + 4 receivers)", &w, &b));

    let idle = args.idle_sockets / scale;
    let (w_mem, b_mem) = {
        let mut t = Target::start(Kind::Worker, idle.div_ceil(50)).await;
        let w = idle_connections(&mut t, idle).await;
        t.stop();
        let mut t = Target::start(Kind::Baseline, idle.div_ceil(50)).await;
        let b = idle_connections(&mut t, idle).await;
        t.stop();
        (w, b)
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

    println!("\n{}\n", lines.join("\n"));
    println!(
        "Idle sockets: {idle} joined connections; server RSS grew {:.1} MiB: {:.1} KiB per connection (baseline: {:.1} KiB).",
        w_mem.total_kib as f64 / 1024.0,
        w_mem.per_connection_kib,
        b_mem.per_connection_kib
    );
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
