# Shared by the bench/*-large.sh scripts (source it): timing one command.
# Needs RUNS and a scratch directory in $data; GNU time at /usr/bin/time.

if [[ ! -x /usr/bin/time ]]; then
  echo "GNU time is needed: apt-get install -y time" >&2
  exit 1
fi

# median of the numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# measure ROW LABEL CMD...: RUNS runs of CMD (output discarded); prints a
# Markdown row: ROW's cells, LABEL, the median wall seconds and the median
# peak RSS (MB).
measure() {
  local row=$1 label=$2
  shift 2
  local walls=() rss=()
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$data/time.txt" "$@" > /dev/null
    read -r wall kb < "$data/time.txt"
    walls+=("$wall")
    rss+=("$((kb / 1024))")
  done
  local w r
  w=$(printf '%s\n' "${walls[@]}" | median)
  r=$(printf '%s\n' "${rss[@]}" | median)
  printf '| %s | %s | %s | %s |\n' "$row" "$label" "$w" "$r"
}
