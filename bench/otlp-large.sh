#!/usr/bin/env bash
# One large OTLP export read by `loupe stats` and `loupe analyze`: wall time
# and peak memory as the file grows, for a whole `ExportTraceServiceRequest`
# document, the same spans as JSONL (one request per line, the Collector's
# file exporter), and both as binary OTLP (`pb`: one request; `framed.pb`:
# one length-framed request per JSONL line, the Collector's `proto` file
# format), side by side with `jq -c .` (JSON only) and `cat` over the same
# files.
#
#   bench/otlp-large.sh                      # 100k, 200k and 400k spans, 3 runs each
#   SPANS="200000" RUNS=1 bench/otlp-large.sh
#   SHAPES="pb framed.pb" bench/otlp-large.sh   # some of: json jsonl pb framed.pb
#   BASELINE=/path/to/older/loupe bench/otlp-large.sh   # an older build beside
#
# Data goes to $DATA_ROOT (default /tmp; /dev/shm keeps disk speed out of it).
# Needs python3, GNU time (/usr/bin/time) and jq (skipped when missing).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
SPANS=${SPANS:-"100000 200000 400000"}
RUNS=${RUNS:-3}
SHAPES=${SHAPES:-"json jsonl pb framed.pb"}
DATA_ROOT=${DATA_ROOT:-/tmp}
data="$DATA_ROOT/loupe-otlp-bench"
mkdir -p "$data"

cargo build --release --locked -q -p loupe-cli --manifest-path "$root/Cargo.toml"
cargo build --release --locked -q -p loupe-formats --example otlp_to_protobuf \
  --manifest-path "$root/Cargo.toml"
loupe="${CARGO_TARGET_DIR:-$root/target}/release/loupe"
to_protobuf="${CARGO_TARGET_DIR:-$root/target}/release/examples/otlp_to_protobuf"

# shellcheck source=lib/measure.sh
source "$here/lib/measure.sh"

echo "| spans | file | command | wall s (median of $RUNS) | peak RSS MB |"
echo "|---:|---|---|---:|---:|"
for spans in $SPANS; do
  for shape in $SHAPES; do
    file="$data/export-$spans.$shape"
    # The binary shapes are made from the JSON ones.
    case $shape in
      pb) from="$data/export-$spans.json" ;;
      framed.pb) from="$data/export-$spans.jsonl" ;;
      *) from="$file" ;;
    esac
    if [[ ! -s "$from" ]]; then
      flag=""
      [[ $from == *.jsonl ]] && flag="--jsonl"
      python3 "$here/gen_otlp.py" "$from" "$spans" $flag
    fi
    if [[ ! -s "$file" ]]; then
      flag=""
      [[ $shape == framed.pb ]] && flag="--framed"
      "$to_protobuf" "$from" "$file" $flag
    fi
    size=$(( $(stat -c %s "$file") / 1000000 ))
    shape="$shape ($size MB)"
    measure "$spans | $shape" "loupe stats" "$loupe" stats "$file" --output json
    measure "$spans | $shape" "loupe analyze" "$loupe" analyze "$file" --output json
    if [[ -n "${BASELINE:-}" ]]; then
      measure "$spans | $shape" "baseline stats" "$BASELINE" stats "$file" --output json
      measure "$spans | $shape" "baseline analyze" "$BASELINE" analyze "$file" --output json
    fi
    if [[ $shape == json* ]] && command -v jq > /dev/null; then
      measure "$spans | $shape" "jq -c ." jq -c . "$file"
    fi
    measure "$spans | $shape" "cat" cat "$file"
  done
done
