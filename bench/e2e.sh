#!/usr/bin/env bash
# End-to-end throughput harness for `loopgate run` (docs/performance.md). Builds nothing.
#
#   bench/e2e.sh BUILD_DIR [options]
#     -n N[,N...]   events per run (default 1000000); several sizes show whether RSS is flat in N
#     -r R          repetitions per size (default 5); each starts from an empty state and out dir
#     -w DIR        work directory for generated data, state and outputs (default /tmp/loopgate-e2e)
#     -s S          consent population: S HCPs, S patients, S/2 EHR MRNs (default 10000)
#     -c CPU        pin to this CPU with taskset (default 0); -c none to not pin
#     --seed X      generator seed (default 1)
#     --config FILE catalog (default examples/reference/catalog.yaml); e.g. a copy whose sinks
#                   set `output: {type: file, fsync: false}`, to measure what the syncs cost
#     --batch-events B  passed to `loopgate run` (default: the CLI's, 8192)
#     --baseline    also time R runs on an empty events file (startup + consent import) and report
#                   the throughput net of it
#     --verify      run `loopgate ledger verify` after the first repetition (not timed)
#
# Per run it records wall time (ns clock), user and sys CPU seconds and peak RSS (GNU time %M,
# Debian package `time`), and prints per size: the median wall seconds and range, events/s
# (= N / median wall, on one core), µs/event, CPU µs/event and median peak RSS. Raw rows are
# appended to WORK/results.tsv. Generated inputs are cached in WORK by (N, S, seed).
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }

[[ $# -ge 1 ]] || usage
BUILD=$(cd "$1" && pwd); shift
SIZES=1000000 REPS=5 WORK=/tmp/loopgate-e2e SUBJECTS=10000 CPU=0 SEED=1 BASELINE=0 VERIFY=0
CONFIG="" BATCH=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) SIZES=$2; shift 2 ;;
    -r) REPS=$2; shift 2 ;;
    -w) WORK=$2; shift 2 ;;
    -s) SUBJECTS=$2; shift 2 ;;
    -c) CPU=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --config) CONFIG=$(realpath "$2"); shift 2 ;;
    --batch-events) BATCH=(--batch-events "$2"); shift 2 ;;
    --baseline) BASELINE=1; shift ;;
    --verify) VERIFY=1; shift ;;
    *) usage ;;
  esac
done

SRC=$(cd "$(dirname "$0")/.." && pwd)
REF=$SRC/../shared/scenarios/reference
CONFIG=${CONFIG:-$SRC/examples/reference/catalog.yaml}
LOOPGATE=$BUILD/src/cli/loopgate
GEN=$BUILD/bench/loopgate_gen_events
for f in "$LOOPGATE" "$GEN"; do
  [[ -x $f ]] || { echo "e2e.sh: $f not built (ninja -C $BUILD loopgate loopgate_gen_events)" >&2; exit 2; }
done
[[ -x /usr/bin/time ]] || { echo "e2e.sh: needs GNU time (apt-get install -y time)" >&2; exit 2; }
PIN=()
if [[ $CPU != none ]] && command -v taskset > /dev/null; then PIN=(taskset -c "$CPU"); fi

mkdir -p "$WORK"
RESULTS=$WORK/results.tsv
[[ -s $RESULTS ]] || printf 'date\tcommit\tn\trep\twall_s\tuser_s\tsys_s\tmaxrss_kb\tpinned\n' > "$RESULTS"
# The source the binaries came from: LOOPGATE_BENCH_COMMIT when set (e.g. for a build of a
# `git archive` snapshot), else this checkout's HEAD, "+dirty" when src/ has local changes.
if [[ -n ${LOOPGATE_BENCH_COMMIT:-} ]]; then
  COMMIT=$LOOPGATE_BENCH_COMMIT
else
  COMMIT=$(git -C "$SRC" rev-parse --short HEAD 2> /dev/null || echo unknown)
  if [[ -n $(git -C "$SRC" status --porcelain -- src 2> /dev/null) ]]; then COMMIT="$COMMIT+dirty"; fi
fi

CONSENTS=$WORK/consents-s$SUBJECTS-seed$SEED.ndjson
events_file() { echo "$WORK/events-n$1-s$SUBJECTS-seed$SEED.ndjson"; }

# generate N: writes the events (and the consents, once) unless already there.
generate() {
  local n=$1 ev
  ev=$(events_file "$n")
  if [[ ! -e $ev || ! -s $CONSENTS ]]; then
    "$GEN" --events "$n" --subjects "$SUBJECTS" --seed "$SEED" --out "$ev.tmp" \
      --consents "$CONSENTS" >&2
    mv "$ev.tmp" "$ev"
  fi
}

# run_once N EVENTS_FILE REP: one timed run from an empty state; prints "wall user sys maxrss".
run_once() {
  local n=$1 ev=$2 rep=$3 dir=$WORK/run
  rm -rf "$dir"
  mkdir -p "$dir"
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -o "$dir/time.txt" -f '%U %S %M' "${PIN[@]}" "$LOOPGATE" run \
    --config "$CONFIG" "${BATCH[@]}" --events "$ev" \
    --consents "$CONSENTS" --agreements "$REF/agreements.ndjson" --keys "$REF/keys.json" \
    --state "$dir/state" --out "$dir/out" --as-of 2026-06-30T00:00:00Z --json \
    > "$dir/summary.json" 2> "$dir/stderr.txt" ||
    { echo "e2e.sh: loopgate run failed:" >&2; cat "$dir/stderr.txt" "$dir/time.txt" >&2; exit 1; }
  t1=$(date +%s%N)
  local nread
  nread=$(grep -o '"events_read":[0-9]*' "$dir/summary.json" | cut -d: -f2)
  [[ $nread == "$n" ]] || { echo "e2e.sh: read $nread events, expected $n" >&2; exit 1; }
  if [[ $VERIFY == 1 && $rep == 1 ]]; then
    "$LOOPGATE" ledger verify --state "$dir/state" >&2
  fi
  if [[ $rep == 1 ]]; then cp "$dir/summary.json" "$WORK/summary-n$n.json"; fi
  local wall user sys rss
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  read -r user sys rss < "$dir/time.txt"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$COMMIT" "$n" "$rep" \
    "$wall" "$user" "$sys" "$rss" "${PIN[*]:-none}" >> "$RESULTS"
  echo "$wall $user $sys $rss"
}

# median of the numbers on stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# loopgate e2e: build $BUILD, commit $COMMIT, $(nproc) CPUs, pinned: ${PIN[*]:-no}, $REPS reps"
echo "# config $CONFIG ${BATCH[*]}"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), work dir $WORK ($(df -T "$WORK" | awk 'NR == 2 { print $2 }'))"

BASE_WALL=0
if [[ $BASELINE == 1 ]]; then
  generate 0
  walls=()
  for rep in $(seq 1 "$REPS"); do
    read -r wall user sys rss < <(run_once 0 "$(events_file 0)" "$rep")
    walls+=("$wall")
    echo "  N=0 rep $rep: wall ${wall}s user ${user}s sys ${sys}s maxrss ${rss} KB"
  done
  BASE_WALL=$(printf '%s\n' "${walls[@]}" | median)
  echo "baseline (startup + import of $(wc -l < "$CONSENTS") consents): median ${BASE_WALL}s"
fi

printf '%-9s %9s %17s %11s %9s %10s %10s %8s\n' N wall_s range_s events/s us/event cpu_us/ev \
  net_ev/s rss_MiB > "$WORK/table.txt"
for n in ${SIZES//,/ }; do
  generate "$n"
  ev=$(events_file "$n")
  walls=() cpus=() rsss=()
  for rep in $(seq 1 "$REPS"); do
    read -r wall user sys rss < <(run_once "$n" "$ev" "$rep")
    walls+=("$wall")
    cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')")
    rsss+=("$rss")
    echo "  N=$n rep $rep: wall ${wall}s user ${user}s sys ${sys}s maxrss ${rss} KB"
  done
  mw=$(printf '%s\n' "${walls[@]}" | median)
  lo=$(printf '%s\n' "${walls[@]}" | sort -g | head -1)
  hi=$(printf '%s\n' "${walls[@]}" | sort -g | tail -1)
  mc=$(printf '%s\n' "${cpus[@]}" | median)
  mr=$(printf '%s\n' "${rsss[@]}" | median)
  awk -v n="$n" -v w="$mw" -v lo="$lo" -v hi="$hi" -v c="$mc" -v r="$mr" -v b="$BASE_WALL" 'BEGIN {
    net = (b > 0 && w > b) ? sprintf("%.0f", n / (w - b)) : "-"
    printf "%-9d %9.2f %17s %11.0f %9.2f %10.2f %10s %8.1f\n", n, w, lo "-" hi, n / w,
           w * 1e6 / n, c * 1e6 / n, net, r / 1024 }' >> "$WORK/table.txt"
done
echo
cat "$WORK/table.txt"
