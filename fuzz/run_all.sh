#!/usr/bin/env bash
# Runs every fuzz target once, one at a time (-jobs=1 -workers=1), for the execution
# counts in docs/SECURITY.md. Build first: RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz
# Seeds: cargo run -p cloakroom-protocol --example fuzz_seeds. Logs go to fuzz/logs/.
set -euo pipefail
cd "$(dirname "$0")"
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p logs artifacts
for spec in ${TARGETS:-client_frame:10000000 keys_file:10000000 objects:1000000 owner_call:1000000 \
  signed_request:1000000 message_body:1000000 api_body:1000000 server_frame:1000000 envelope:1000000 \
  inbound:1000000 backup:1000000 sso:1000000}; do
  # target:runs or target:runs:seconds (a time cap, for a run that must end by a deadline)
  IFS=: read -r t runs secs <<<"$spec"
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t ($runs runs) $(date -u +%T)"
  (cd logs && "../$bin/$t" "../corpus/$t" -runs="$runs" ${secs:+-max_total_time=$secs} -jobs=1 -workers=1 -print_final_stats=1 \
    -artifact_prefix="../artifacts/$t/" >/dev/null 2>&1; echo "exit $?" > "$t.exit"; mv fuzz-0.log "$t.log")
  tail -n 12 "logs/$t.log" | grep -E "stat::|Done|crash|ERROR|exit" || true
done
