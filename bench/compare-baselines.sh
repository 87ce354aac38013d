#!/usr/bin/env bash
# Analysis benchmark (issue 4): `loupe stats` and `loupe analyze` against
# (a) the seed 003 jq recipes (slowest LLM calls, tool failure rate, tokens by
# model; spec/003, adapted to attocode-py fields) and (b) attocode-py 0.2.30's
# own analysers (SessionAnalyzer, TokenAnalyzer, InefficiencyDetector) over the
# same generated attocode-py JSONL, one session per file, side by side in one
# run, with `cat FILES > /dev/null` as the read limit. Prints one table: wall
# time (median of RUNS for loupe and cat; one run for jq and Python, which
# take minutes), MB/s, CPU time (user + system, median; for a pipeline, of
# all its processes), peak RSS (largest single process of the command, from
# GNU time's %M) and ratios.
#
#   bench/compare-baselines.sh [SIZE_MB]      # default 1024
#   RUNS=3 KEEP_DATA=1 CARGO_TARGET_DIR=... bench/compare-baselines.sh 256
#   LOUPE_BIN=/path/to/loupe bench/compare-baselines.sh 400   # no build
#   DATA_ROOT=/dev/shm bench/compare-baselines.sh             # data in tmpfs
#
# Installs what it needs idempotently: jq and GNU time (apt), the Python 3.12
# venv .venv-attocode with attocode==0.2.30 (pip). Data goes to
# bench/out/ana-<SIZE>mb (gitignored) and is deleted afterwards unless
# KEEP_DATA=1.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB="${1:-1024}"
RUNS="${RUNS:-3}"
TARGET="${CARGO_TARGET_DIR:-target}"
# DATA_ROOT=/dev/shm keeps the data in memory (see docs/benchmarks.md: this
# VM pages out page cache idle for about a minute, so disk-backed runs read
# part of the input from disk, unevenly between tools).
DATA="${DATA_ROOT:-bench/out}/ana-${SIZE_MB}mb"
TMP="$(mktemp -d)"
cleanup() {
  rm -rf "$TMP"
  if [ "${KEEP_DATA:-0}" != 1 ]; then rm -rf "$DATA"; fi
}
trap cleanup EXIT

# --- tools -----------------------------------------------------------------
need_apt=()
command -v jq >/dev/null || need_apt+=(jq)
[ -x /usr/bin/time ] || need_apt+=(time)
if [ "${#need_apt[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update >&2
  $SUDO apt-get install -y "${need_apt[@]}" >&2
fi
if [ ! -x .venv-attocode/bin/python ] || ! .venv-attocode/bin/python -c 'import attocode.tracing.analysis' 2>/dev/null; then
  PYENV_VERSION="${PYENV_VERSION:-3.12.1}" python3.12 -m venv .venv-attocode >&2
  .venv-attocode/bin/pip install -q attocode==0.2.30 >&2
fi
# LOUPE_BIN=path/to/loupe measures that binary instead of building one.
if [ -n "${LOUPE_BIN:-}" ]; then
  LOUPE="$LOUPE_BIN"
else
  cargo build --release -p loupe-cli >&2
  LOUPE="$TARGET/release/loupe"
fi

# --- data ------------------------------------------------------------------
if [ ! -f "$DATA/.complete" ]; then
  rm -rf "$DATA"
  echo "generating ${SIZE_MB} MB of attocode-py sessions in $DATA ..." >&2
  python3 bench/gen_attocode_sessions.py "$DATA" "$SIZE_MB" >&2
  touch "$DATA/.complete"
fi
BYTES="$(find "$DATA" -name '*.jsonl' -print0 | du -cb --files0-from=- | tail -1 | cut -f1)"
FILES="$(find "$DATA" -name '*.jsonl' | wc -l)"
MB="$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')"
echo "data: $FILES session files, $MB MiB; load before: $(uptime)" >&2

# --- measuring -------------------------------------------------------------
# timed NAME RUNS CMD...: runs CMD (a bash -c string) RUNS times under GNU
# time; records the median wall and CPU times and the largest peak RSS (KB).
declare -A WALL CPU RSS
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
timed() {
  local name="$1" runs="$2" cmd="$3" i walls=() cpus=() peak=0 w m u s
  for ((i = 0; i < runs; i++)); do
    /usr/bin/time -f "%e %M %U %S" -o "$TMP/t" bash -c "$cmd" || { echo "$name failed" >&2; return 1; }
    read -r w m u s <"$TMP/t"
    walls+=("$w")
    cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')")
    [ "$m" -gt "$peak" ] && peak="$m"
  done
  WALL[$name]="$(printf '%s\n' "${walls[@]}" | median)"
  CPU[$name]="$(printf '%s\n' "${cpus[@]}" | median)"
  RSS[$name]="$peak"
  echo "$name: runs ${walls[*]} s wall, ${cpus[*]} s CPU, peak ${peak} KB" >&2
}

ALL_FILES="find '$DATA' -name '*.jsonl' -print0 | xargs -0 cat"
# Warm the page cache once, so every tool reads from memory.
bash -c "$ALL_FILES > /dev/null"

timed cat "$RUNS" "$ALL_FILES > /dev/null"
timed "loupe stats" "$RUNS" "'$LOUPE' stats '$DATA' --output json > /dev/null"
timed "loupe analyze" "$RUNS" "'$LOUPE' analyze '$DATA' --output json > /dev/null"

# Seed 003's three jq recipes (spec/003 "Find slowest LLM calls", "Tool
# failure rate", "Token usage by model"), same shape — streaming select, then
# `jq -s` group — with attocode-py's fields: llm_response / duration_ms,
# tool_end vs tool_error as success vs failure, data.model and
# data.input_tokens + data.output_tokens. Files are concatenated with xargs
# rather than the recipe's `find -exec cat {} \;` (one process per file),
# which only helps jq.
timed "jq slowest LLM calls" 1 "$ALL_FILES | jq 'select(.kind==\"llm_response\") | {session: .session_id, ms: .duration_ms}' | jq -s 'sort_by(.ms) | reverse | .[0:10]' > /dev/null"
timed "jq tool failure rate" 1 "$ALL_FILES | jq 'select(.kind==\"tool_end\" or .kind==\"tool_error\") | {success: (.kind==\"tool_end\")}' | jq -s 'group_by(.success) | map({success: .[0].success, count: length})' > /dev/null"
timed "jq tokens by model" 1 "$ALL_FILES | jq 'select(.kind==\"llm_response\" and .data.input_tokens) | {model: .data.model, tokens: (.data.input_tokens + .data.output_tokens)}' | jq -s 'group_by(.model) | map({model: .[0].model, total: (map(.tokens) | add)})' > /dev/null"
WALL[jq]="$(awk -v a="${WALL[jq slowest LLM calls]}" -v b="${WALL[jq tool failure rate]}" -v c="${WALL[jq tokens by model]}" 'BEGIN { print a + b + c }')"
CPU[jq]="$(awk -v a="${CPU[jq slowest LLM calls]}" -v b="${CPU[jq tool failure rate]}" -v c="${CPU[jq tokens by model]}" 'BEGIN { print a + b + c }')"
RSS[jq]="$(printf '%s\n' "${RSS[jq slowest LLM calls]}" "${RSS[jq tool failure rate]}" "${RSS[jq tokens by model]}" | sort -g | tail -1)"

timed "attocode-py analysers" 1 ".venv-attocode/bin/python bench/attocode_analyze.py '$DATA' > '$TMP/py.out'"
echo "attocode-py: $(cat "$TMP/py.out")" >&2

# --- table -----------------------------------------------------------------
row() {
  local name="$1" label="$2"
  awk -v label="$label" -v w="${WALL[$name]}" -v c="${CPU[$name]:-0}" -v m="${RSS[$name]}" -v mb="$MB" \
    -v jq="${WALL[jq]}" -v py="${WALL[attocode-py analysers]}" -v cat="${WALL[cat]}" 'BEGIN {
      ws = (w > 0) ? w : 0.01
      printf "| %-30s | %8.2f | %8.1f | %8.2f | %8.1f | %7.1fx | %7.1fx | %6.2fx |\n",
        label, w, mb / ws, c, m / 1024, jq / ws, py / ws, ws / cat
    }'
}
echo
echo "| tool | wall s | MB/s | CPU s | peak RSS MB | vs jq | vs attocode | of cat |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
row cat "cat FILES > /dev/null"
row "loupe stats" "loupe stats --output json"
row "loupe analyze" "loupe analyze --output json"
row jq "jq recipes (sum of 3)"
row "jq slowest LLM calls" "  jq slowest LLM calls"
row "jq tool failure rate" "  jq tool failure rate"
row "jq tokens by model" "  jq tokens by model"
row "attocode-py analysers" "attocode-py 0.2.30 analysers"
echo
echo "data: $FILES files, $MB MiB of attocode-py JSONL; loupe and cat: median of RUNS=$RUNS, jq and Python: 1 run each; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load after: $(uptime | sed 's/.*load average/load average/')"
