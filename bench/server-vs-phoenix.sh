#!/usr/bin/env bash
# OTLP ingest benchmark: `loupe serve` against Arize Phoenix, fed the same
# protobuf spans over OTLP/HTTP `/v1/traces` by the same load generator
# (crates/loupe-server/examples/otlp_load.rs).
#
# Usage: bench/server-vs-phoenix.sh [LOUPE_SPANS] [PHOENIX_SPANS] [RUNS]
#   defaults: 1000000 spans to Loupe, 3000 to Phoenix, 3 runs of each.
#   LOUPE_BENCH_SKIP_BUILD=1 reuses the release binaries already built.
#
# A span counts as ingested only once it is queryable through the server's
# own API: for Loupe when `/api/v1/stats` (which counts stored events of
# sessions that have a summary row) reaches two events per span; for Phoenix
# when its GraphQL `recordCount` (spans in the project) reaches the number
# sent. Rate = spans / (time queryable - time of the first send).
#
# Phoenix runs offline: telemetry off, no fetching of external resources
# (its WASM sandbox binary, its docs MCP server), no agent assistant.
#
# Isolation: Phoenix's OTLP/gRPC server binds [::]:4317 whatever
# PHOENIX_HOST says, so after building and installing, the script re-runs
# itself in a fresh network namespace (`unshare -rn`, loopback only): no
# port of either server is reachable from outside this machine.
#
# Writes bench/out/server-vs-phoenix/results.jsonl (one line per run) and
# prints the medians.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
loupe_spans="${1:-1000000}"
phoenix_spans="${2:-3000}"
runs="${3:-3}"
phoenix_version="20.26.1"
connections=4
out="$root/bench/out/server-vs-phoenix"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$root/.venv-phoenix"

if [ -z "${LOUPE_BENCH_IN_NETNS:-}" ]; then
  cd "$root"
  if [ -z "${LOUPE_BENCH_SKIP_BUILD:-}" ]; then
    # One invocation, so both targets share one feature resolution (no rebuilds between them).
    cargo build --release --locked -p loupe-cli -p loupe-server --bin loupe --example otlp_load
  fi
  if ! "$venv/bin/python" -c "import phoenix, sys; sys.exit(phoenix.__version__ != '$phoenix_version')" 2>/dev/null; then
    echo "server-vs-phoenix: installing arize-phoenix==$phoenix_version into $venv (large)"
    if PYENV_VERSION=3.12.1 python3.12 --version >/dev/null 2>&1; then
      PYENV_VERSION=3.12.1 python3.12 -m venv "$venv"
    else
      python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet "arize-phoenix==$phoenix_version"
  fi
  mkdir -p "$out"
  : >"$out/results.jsonl"
  exec unshare -rn env LOUPE_BENCH_IN_NETNS=1 CARGO_TARGET_DIR="$target" bash "$0" "$@"
fi

# From here on: inside the network namespace.
ip link set lo up
loupe="$target/release/loupe"
load="$target/release/examples/otlp_load"
work="$(mktemp -d /tmp/loupe-vs-phoenix.XXXXXX)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }

wait_http() { # URL SECONDS
  local deadline=$(( $(date +%s) + $2 ))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "server at $1 did not start" >&2; return 1; fi
    sleep 0.2
  done
}

peak_rss_mib() { # PID
  awk '/VmHWM/ {printf "%d", $2/1024}' "/proc/$1/status" 2>/dev/null || echo 0
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

record() { # TOOL RUN SPANS LOAD_JSON QUERYABLE_AT PEAK_RSS_MIB COUNT
  local tool="$1" run="$2" spans="$3" json="$4" queryable_at="$5" rss="$6" count="$7"
  jq -c --arg tool "$tool" --argjson run "$run" --argjson spans "$spans" \
    --argjson queryable_at "$queryable_at" --argjson rss "$rss" --argjson count "$count" \
    --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '
    . + {tool: $tool, run: $run, spans: $spans, queryable_count: $count,
         seconds_to_queryable: ($queryable_at - .send_started_unix_seconds),
         queryable_spans_per_second: ($spans / ($queryable_at - .send_started_unix_seconds)),
         server_peak_rss_mib: $rss, loadavg: $load}' <<<"$json" | tee -a "$out/results.jsonl"
}

# poll_until NAME WANT TIMEOUT_S INTERVAL_S COUNT_CMD ARGS...: runs COUNT_CMD
# until it prints at least WANT or the timeout passes. Sets polled_count (the
# last count) and polled_at (when WANT was reached; empty on timeout).
poll_until() {
  local name="$1" want="$2" deadline=$(( $(date +%s) + $3 )) interval="$4"
  shift 4
  polled_at=""
  while :; do
    polled_count="$("$@")"
    if [ "$polled_count" -ge "$want" ]; then polled_at="$(now)"; return; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$name: only $polled_count of $want queryable" >&2
      return
    fi
    sleep "$interval"
  done
}

loupe_event_count() { # PORT
  curl -fsS "http://127.0.0.1:$1/api/v1/stats" | jq '.events'
}

run_loupe() { # RUN
  local run="$1" port=14318 dir="$work/loupe-$1"
  mkdir -p "$dir"
  "$loupe" serve --db "$dir/loupe.db" --bind "127.0.0.1:$port" >"$dir/serve.log" 2>&1 &
  server_pid=$!
  wait_http "http://127.0.0.1:$port/healthz" 60
  local json events=0 want=$((loupe_spans * 2)) queryable_at
  json="$("$load" --url "http://127.0.0.1:$port" --spans "$loupe_spans" --connections "$connections" --run "$run")"
  poll_until loupe "$want" 600 0.1 loupe_event_count "$port"
  events=$polled_count queryable_at=$polled_at
  local rss; rss="$(peak_rss_mib "$server_pid")"
  stop_server
  record loupe "$run" "$loupe_spans" "$json" "${queryable_at:-0}" "$rss" "$((events / 2))"
}

phoenix_span_count() { # PORT
  curl -fsS "http://127.0.0.1:$1/graphql" -H 'Content-Type: application/json' \
    -d '{"query":"{ projects { edges { node { recordCount } } } }"}' |
    jq '[.data.projects.edges[].node.recordCount] | add // 0'
}

run_phoenix() { # RUN
  local run="$1" port=16006 dir="$work/phoenix-$1"
  mkdir -p "$dir"
  PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$port" PHOENIX_GRPC_PORT=14317 \
    PHOENIX_WORKING_DIR="$dir" PHOENIX_TELEMETRY_ENABLED=false \
    PHOENIX_ALLOW_EXTERNAL_RESOURCES=false PHOENIX_DISABLE_AGENT_ASSISTANT=true \
    "$venv/bin/phoenix" serve >"$dir/phoenix.log" 2>&1 &
  server_pid=$!
  # Startup runs its migrations first: minutes on a loaded machine.
  wait_http "http://127.0.0.1:$port/healthz" 600
  local json count=0 queryable_at
  json="$("$load" --url "http://127.0.0.1:$port" --spans "$phoenix_spans" --connections "$connections" --run "$run")"
  poll_until phoenix "$phoenix_spans" 900 0.2 phoenix_span_count "$port"
  count=$polled_count queryable_at=$polled_at
  local rss; rss="$(peak_rss_mib "$server_pid")"
  stop_server
  record phoenix "$run" "$phoenix_spans" "$json" "${queryable_at:-0}" "$rss" "$count"
}

echo "server-vs-phoenix: $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), $loupe_spans spans to Loupe, $phoenix_spans to Phoenix $phoenix_version, $runs runs, $connections connections"
for run in $(seq 1 "$runs"); do
  run_loupe "$run"
  run_phoenix "$run"
done

jq -s -r '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  group_by(.tool) | map({tool: .[0].tool,
    runs: length,
    spans: .[0].spans,
    acknowledged_per_s: (map(.acknowledged_spans_per_second) | median),
    queryable_per_s: (map(.queryable_spans_per_second) | median),
    lost: (map(.spans_acknowledged - .queryable_count) | max),
    peak_rss_mib: (map(.server_peak_rss_mib) | max)}) as $rows
  | ($rows[] | "\(.tool): \(.runs) runs of \(.spans) spans; median \(.acknowledged_per_s | floor) acknowledged spans/s, \(.queryable_per_s | floor) queryable spans/s; acknowledged but not queryable: \(.lost); peak RSS \(.peak_rss_mib) MiB"),
    ( ($rows | map({(.tool): .queryable_per_s}) | add) as $r
      | if $r.loupe and $r.phoenix then "ratio (queryable spans/s): \($r.loupe / $r.phoenix | . * 10 | floor / 10)x" else empty end)
' "$out/results.jsonl"
