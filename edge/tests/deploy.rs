//! `wrangler deploy --dry-run` on the built Worker: the configuration, the Durable Object
//! migration and the assets are accepted, and the bundle fits Cloudflare's Free plan
//! (3 MB compressed). No account and no network are involved.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

/// Cloudflare's Worker size limit on the Free plan, compressed (the Paid plan's is 10 MB).
const FREE_PLAN_LIMIT_KIB: f64 = 3.0 * 1000.0 * 1000.0 / 1024.0;

#[test]
fn a_dry_run_deploy_accepts_the_bundle_within_the_free_plans_size_limit() {
    let edge = testkit::workspace_root().join("edge");
    assert!(edge.join("build/index.js").is_file(), "edge/build is missing: build it first (./dev edge-build)");
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(edge.join("node_modules/.bin/wrangler"))
        .current_dir(&edge)
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(out.path().join("bundle"))
        .env("WRANGLER_SEND_METRICS", "false")
        .env("XDG_CONFIG_HOME", out.path().join("config"))
        .env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .output()
        .expect("wrangler runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "dry run failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("--dry-run: exiting now"), "{stdout}");
    for binding in [
        "env.ROOM (RoomObject)",
        "env.LEDGER (LedgerObject)",
        "env.UPLOADS (UploadsObject)",
        "env.CHUNKS",
        "env.GLOBAL",
    ] {
        assert!(stdout.contains(binding), "{binding} is bound: {stdout}");
    }
    // "Total Upload: 1268.76 KiB / gzip: 523.17 KiB"
    let gzip = stdout
        .lines()
        .find_map(|l| l.split("gzip: ").nth(1))
        .and_then(|rest| rest.trim().trim_end_matches("KiB").trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no compressed size in the output: {stdout}"));
    assert!(gzip < FREE_PLAN_LIMIT_KIB, "the bundle is {gzip} KiB compressed, over the Free plan's 3 MB");
    println!("bundle: {gzip} KiB compressed (limit {FREE_PLAN_LIMIT_KIB:.0} KiB)");
}
