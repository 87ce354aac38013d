#!/usr/bin/env bash
# Reading throughput (issue 3): Loupe vs `jq -c .` vs `cat` over >= 1 GB each
# of generated canonical, attocode-py and attocode-ts JSONL. Two Loupe rows:
# `loupe` counts each file's events on the worker that parsed it
# (`read_paths_per_file`, how `loupe stats` and `loupe analyze` read);
# `loupe-1sink` hands every event to one sink on the calling thread
# (`read_paths`, how `loupe view` and `loupe ingest` read). Two serde_json
# rows show the ceiling of any serde_json-based reader on the same files,
# read the same way: `serde-check` only checks each line's syntax
# (`IgnoredAny`, nothing built), `serde-value` parses it into a
# `serde_json::Value`.
#
#   bench/parse-throughput.sh            # 1 GiB per format, 8 files each, 3 runs
#   BYTES=2147483648 RUNS=5 bench/parse-throughput.sh
#   KEEP=1 bench/parse-throughput.sh     # keep bench/out/jsonl afterwards
#   DATA_ROOT=/dev/shm bench/parse-throughput.sh   # data in tmpfs
#
# Prints, per format and tool, the median wall time of RUNS runs, MB/s, the
# median CPU time (user + system, all threads), MB per CPU second (steadier
# than wall time on a shared machine) and the peak RSS (GNU time). Data goes
# to bench/out/ (gitignored) and is deleted at the end unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES=${BYTES:-1073741824}
FILES=${FILES:-8}
RUNS=${RUNS:-3}
THREADS=${THREADS:-0}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${DATA_ROOT:-bench/out}/jsonl  # DATA_ROOT=/dev/shm: data in tmpfs, see docs/benchmarks.md

command -v jq >/dev/null || { echo "jq is required (apt-get install jq)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time is required (apt-get install time)" >&2; exit 2; }

cargo build --release -p loupe-formats --example gen_jsonl --example parse_throughput >&2
BIN="$TARGET/release/examples"
if [ ! -d "$OUT/attocode-ts" ]; then
  echo "generating $BYTES bytes per format into $OUT ..." >&2
  "$BIN/gen_jsonl" "$OUT" "$BYTES" "$FILES" >&2
fi

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# measure CMD... -> prints "median_wall_secs median_cpu_secs peak_rss_kb"
measure() {
  local times=() cpus=() rss=0
  for _ in $(seq "$RUNS"); do
    local tf e u s r
    tf=$(mktemp)
    /usr/bin/time -o "$tf" -f "%e %U %S %M" "$@" >/dev/null 2>&1
    read -r e u s r < <(tail -1 "$tf"); rm -f "$tf"
    times+=("$e")
    cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}')")
    (( r > rss )) && rss=$r
  done
  echo "$(printf '%s\n' "${times[@]}" | median) $(printf '%s\n' "${cpus[@]}" | median) $rss"
}

printf '%-12s %-11s %8s %9s %8s %8s %10s %12s\n' format tool MB median_s MB/s cpu_s MB/cpu_s peak_RSS_MB
for fmt in loupe attocode-py attocode-ts; do
  files=("$OUT/$fmt"/*.jsonl)
  mb=$(du -cb "${files[@]}" | tail -1 | awk '{printf "%.0f", $1/1e6}')
  for tool in loupe loupe-1sink serde-check serde-value jq cat; do
    case $tool in
      loupe) res=$(measure "$BIN/parse_throughput" --threads "$THREADS" "$OUT/$fmt") ;;
      loupe-1sink) res=$(measure "$BIN/parse_throughput" --threads "$THREADS" --shared-sink "$OUT/$fmt") ;;
      serde-check) res=$(measure "$BIN/parse_throughput" --threads "$THREADS" --serde validate "$OUT/$fmt") ;;
      serde-value) res=$(measure "$BIN/parse_throughput" --threads "$THREADS" --serde value "$OUT/$fmt") ;;
      jq)    res=$(measure sh -c 'jq -c . "$@" > /dev/null' jq "${files[@]}") ;;
      cat)   res=$(measure sh -c 'cat "$@" > /dev/null' cat "${files[@]}") ;;
    esac
    read -r secs cpu rss <<<"$res"
    printf '%-12s %-11s %8s %9s %8.1f %8s %10.1f %12.1f\n' "$fmt" "$tool" "$mb" "$secs" \
      "$(awk -v m="$mb" -v s="$secs" 'BEGIN {print (s > 0 ? m / s : 0)}')" "$cpu" \
      "$(awk -v m="$mb" -v c="$cpu" 'BEGIN {print (c > 0 ? m / c : 0)}')" \
      "$(awk -v r="$rss" 'BEGIN {print r / 1024}')"
  done
done
echo "cores: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "${KEEP:-0}" = 1 ] || rm -rf "$OUT"
