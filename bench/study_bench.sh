#!/bin/sh
# loopgate measure over about 10M analytics rows on one core (docs/performance.md, "loopgate
# measure"). Usage: bench/study_bench.sh DEMO_DIR [WORK_DIR]
# DEMO_DIR is a medium demo (loopgate demo --size medium --dir DEMO_DIR). Its analytics_lake
# file (779,470 rows with seed 1) is repeated 13 times (10.1M rows, 2.4 GB) in WORK_DIR, a copy
# of its state is pointed at that file, and each campaign's study is measured three times with
# taskset -c 0. Repeated rows cost what new rows cost: every row is read and parsed.
set -eu
demo=$1
work=${2:-/tmp/loopgate-study-bench}
bin=${LOOPGATE:-build/src/cli/loopgate}
rm -rf "$work" && mkdir -p "$work"
cp -r "$demo/state" "$work/state"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do cat "$demo/out/analytics_lake.ndjson"; done > "$work/analytics_lake.ndjson"
sqlite3 "$work/state/state.db" \
  "UPDATE run_sinks SET output='$work/analytics_lake.ndjson' WHERE sink='analytics_lake'"
wc -l < "$work/analytics_lake.ndjson"
for study in "$demo"/world/studies/*.yaml; do
  for i in 1 2 3; do
    /usr/bin/time -f "$(basename "$study" .yaml) %U user %S sys %e wall %M KB" \
      taskset -c 0 "$bin" measure --study "$study" --state "$work/state" > /dev/null
  done
done
