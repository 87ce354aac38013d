#!/usr/bin/env bash
# Store benchmark (docs/benchmarks.md, "Store (issue 5)"): builds a SQLite
# store of EVENTS synthetic events (default 10,000,000; ~3 GB) under
# bench/out/, prints ingest rate, query latencies and bytes per event, then
# deletes the store. Usage: bench/store-bench.sh [EVENTS]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
events="${1:-10000000}"
out="$root/bench/out"
mkdir -p "$out"
db="$out/store-bench.db"
cd "$root"
cargo build -q --release -p loupe-store --example store_bench
target="${CARGO_TARGET_DIR:-$root/target}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)"
"$target/release/examples/store_bench" "$db" "$events"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$db" "$db-wal" "$db-shm"
