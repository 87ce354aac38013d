#!/usr/bin/env bash
# One large MyAgent export read by `loupe stats` and `loupe analyze`: wall
# time and peak memory as the export grows, for a traces export
# (`export_traces_to_json`) and a runs export of the same runs
# (`export_runs_to_json`), side by side with `jq -c .` and `cat` over the
# same files, and an older build when given.
#
#   bench/myagent-large.sh                    # 10k, 20k and 40k traces, 3 runs each
#   TRACES="20000" RUNS=1 bench/myagent-large.sh
#   BASELINE=/path/to/older/loupe bench/myagent-large.sh
#
# Data goes to $DATA_ROOT (default /tmp; /dev/shm keeps disk speed out of it).
# Needs python3, GNU time (/usr/bin/time) and jq (skipped when missing).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
TRACES=${TRACES:-"10000 20000 40000"}
RUNS=${RUNS:-3}
DATA_ROOT=${DATA_ROOT:-/tmp}
data="$DATA_ROOT/loupe-myagent-bench"
mkdir -p "$data"

cargo build --release --locked -q -p loupe-cli --manifest-path "$root/Cargo.toml"
loupe="${CARGO_TARGET_DIR:-$root/target}/release/loupe"

# shellcheck source=lib/measure.sh
source "$here/lib/measure.sh"

echo "| traces | file | command | wall s (median of $RUNS) | peak RSS MB |"
echo "|---:|---|---|---:|---:|"
for traces in $TRACES; do
  for shape in traces runs; do
  file="$data/$shape-$traces.json"
  flag=""
  [[ $shape == runs ]] && flag="--runs"
  [[ -s "$file" ]] || python3 "$here/gen_myagent.py" "$file" "$traces" $flag
  row="$traces | $shape export ($(( $(stat -c %s "$file") / 1000000 )) MB)"
  measure "$row" "loupe stats" "$loupe" stats "$file" --output json
  measure "$row" "loupe analyze" "$loupe" analyze "$file" --output json
  if [[ -n "${BASELINE:-}" ]]; then
    measure "$row" "baseline stats" "$BASELINE" stats "$file" --output json
    measure "$row" "baseline analyze" "$BASELINE" analyze "$file" --output json
  fi
  if command -v jq > /dev/null; then
    measure "$row" "jq -c ." jq -c . "$file"
  fi
  measure "$row" "cat" cat "$file"
  done
done
