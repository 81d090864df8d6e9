//! Garbage collection of the document store on the edge, as mock-server's `gc`: uploads
//! abandoned before completion (older than a cut-off) and every chunk in R2 that no
//! remaining upload references. It runs on the Worker's Cron Trigger (`wrangler.toml`,
//! daily), the platform's own scheduler; `wrangler dev --test-scheduled` exposes it at
//! `/__scheduled` for the tests.
//!
//! Each upload shard removes its abandoned records in one transaction and answers with
//! the chunk ids its other records reference; then R2 is listed and a chunk goes when no
//! shard references it **and** it was written before the cut-off. The second condition
//! matters: a chunk is written to R2 before the record that names it (see
//! [`crate::uploads_object`]), so a fresh chunk of an upload in progress is unreferenced
//! for a moment, and must not be taken for garbage.
//!
//! `ABANDONED_UPLOAD_SECS` sets the cut-off (default 7 days, mock-server's default).
//! Cost: one call per shard (65) and one R2 listing per 1,000 chunks, once a day; the
//! referenced ids are held in memory (about 50 bytes each: a few million chunks fit in
//! the Worker's 128 MB).

use std::collections::HashSet;

use worker::{Env, Method, Request, RequestInit, Result, ScheduleContext, ScheduledEvent, event};

use crate::runtime::{now, setting};
use crate::uploads_object::{self, CHUNKS, COLLECT_PATH, ShardCollected};

/// Seconds an unfinished upload is kept (mock-server's `gc --older-than-days 7`).
const DEFAULT_ABANDONED_SECS: u64 = 7 * 86_400;

/// What a collection removed.
#[derive(Debug, Default, serde::Serialize)]
pub struct Collected {
    pub abandoned_uploads: u64,
    pub chunks: u64,
    pub bytes: u64,
}

/// Removes abandoned uploads and unreferenced chunks older than `older_than` (µs).
pub async fn collect(env: &Env, older_than: u64) -> Result<Collected> {
    let mut collected = Collected::default();
    let mut keep: HashSet<String> = HashSet::new();
    for shard in uploads_object::all_shards() {
        let url = format!("https://uploads.internal{COLLECT_PATH}?older_than={older_than}");
        let req = Request::new_with_init(&url, RequestInit::new().with_method(Method::Post))?;
        let mut answer = uploads_object::shard_stub(env, &shard)?.fetch_with_request(req).await?;
        if answer.status_code() != 200 {
            return Err(worker::Error::RustError(format!(
                "shard {shard} refused to collect ({}): nothing more was removed",
                answer.status_code()
            )));
        }
        let shard_collected: ShardCollected = answer.json().await?;
        collected.abandoned_uploads += shard_collected.abandoned;
        keep.extend(shard_collected.referenced);
    }
    let bucket = env.bucket(CHUNKS)?;
    let older_than_ms = older_than / 1000;
    let mut cursor: Option<String> = None;
    loop {
        let mut list = bucket.list().limit(1000);
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list.execute().await?;
        let mut gone = Vec::new();
        for object in page.objects() {
            if !keep.contains(&object.key()) && object.uploaded().as_millis() < older_than_ms {
                collected.chunks += 1;
                collected.bytes += object.size();
                gone.push(object.key());
            }
        }
        if !gone.is_empty() {
            bucket.delete_multiple(gone).await?;
        }
        match (page.truncated(), page.cursor()) {
            (true, Some(next)) => cursor = Some(next),
            _ => break,
        }
    }
    Ok(collected)
}

/// The Cron Trigger: collects with the configured cut-off and logs what went.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let secs = setting(&env, "ABANDONED_UPLOAD_SECS").and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_ABANDONED_SECS);
    let older_than = now().0.saturating_sub(secs * 1_000_000);
    match collect(&env, older_than).await {
        Ok(c) => worker::console_log!(
            "garbage collection: {} abandoned upload(s), {} chunk(s), {} bytes removed",
            c.abandoned_uploads,
            c.chunks,
            c.bytes
        ),
        Err(e) => worker::console_error!("garbage collection stopped: {e}"),
    }
}
