#!/usr/bin/env bash
# Recording cost: loupe (Rust) vs a naive inline writer vs attocode-py 0.2.30.
# Builds crates/loupe/examples/record_latency.rs in release, creates a Python
# 3.12 venv at .venv-attocode (gitignored) with attocode==0.2.30, runs both on
# the same typical llm_response event and prints one table.
#
#   bench/recorder-vs-attocode.sh [RUST_EVENTS] [PY_EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUST_EVENTS="${1:-1000000}"
PY_EVENTS="${2:-200000}"
TARGET="${CARGO_TARGET_DIR:-target}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

cargo build --release -p loupe --example record_latency >&2
if [ ! -x .venv-attocode/bin/python ]; then
  PYENV_VERSION="${PYENV_VERSION:-3.12.1}" python3.12 -m venv .venv-attocode >&2
  .venv-attocode/bin/pip install -q attocode==0.2.30 >&2
fi

rust="$("$TARGET/release/examples/record_latency" "$RUST_EVENTS" | grep '^RESULT')"
py="$(.venv-attocode/bin/python bench/attocode_record.py "$OUT" "$PY_EVENTS" | grep '^RESULT')"

field() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" <<<"$1"; }
printf '%-30s %12s %12s %12s %14s\n' variant median p99 p99.9 events/s
while read -r line; do
  name="$(awk '{print $2}' <<<"$line")"
  case "$name" in
    loupe) label="loupe (queue + writer)";;
    naive) label="naive inline serde+write";;
    attocode) label="attocode-py 0.2.30 (buf 100)";;
  esac
  printf '%-30s %10sns %10sns %10sns %14s\n' "$label" \
    "$(field "$line" median_ns)" "$(field "$line" p99_ns)" "$(field "$line" p999_ns)" "$(field "$line" events_per_s)"
done <<<"$rust
$py"
# CPU time per event of loupe's two threads (Linux: /proc schedstat), steadier
# than wall time when other processes share the cores.
loupe_line="$(grep '^RESULT loupe' <<<"$rust" || true)"
if grep -q writer_cpu_ns_per_event <<<"$loupe_line"; then
  echo "loupe CPU per event: caller $(field "$loupe_line" caller_cpu_ns_per_event)ns, writer $(field "$loupe_line" writer_cpu_ns_per_event)ns"
fi
echo "rust events: $RUST_EVENTS, python events: $PY_EVENTS, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
