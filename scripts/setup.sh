#!/usr/bin/env bash
# Quick start, step 1: install dependencies, build, and run the reference scenario end to end
# on the embedded default (SQLite state, file sinks). Outputs go to out/reference/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target loopgate

shared=../shared/scenarios/reference
if [ ! -d "$shared" ]; then
  echo "built build/src/cli/loopgate; the reference scenario ($shared) is not here to run" >&2
  exit 0
fi
rm -rf state/reference out/reference
echo
echo "Routing the reference scenario (${shared}) as of 2026-06-30T00:00:00Z:"
build/src/cli/loopgate run \
  --config examples/reference/catalog.yaml \
  --events "$shared/events.ndjson" \
  --consents "$shared/consents.ndjson" \
  --agreements "$shared/agreements.ndjson" \
  --keys "$shared/keys.json" \
  --state state/reference --out out/reference \
  --as-of 2026-06-30T00:00:00Z
echo
build/src/cli/loopgate ledger verify --state state/reference
echo "Try: build/src/cli/loopgate explain --state state/reference evt-0007"
