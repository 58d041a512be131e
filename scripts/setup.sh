#!/usr/bin/env bash
# Quick start, step 1: install dependencies, build, route the hand-written reference scenario,
# then run the main job: `loopgate demo`, a synthetic year of about 1M events over the reference
# catalog, routed into loopgate-demo/ (docs/demo.md).
#   scripts/setup.sh              demo size medium (about 1M events, 1.3 GB on disk)
#   scripts/setup.sh small|large  another size (large: about 10M events, 13 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-medium}

scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target loopgate

shared=../shared/scenarios/reference
if [ -d "$shared" ]; then
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
  build/src/cli/loopgate ledger verify --state state/reference
else
  echo "the reference scenario ($shared) is not here; skipping it" >&2
fi

echo
echo "The main job: loopgate demo --size $size --dir loopgate-demo"
echo
build/src/cli/loopgate demo --size "$size" --dir loopgate-demo
echo
build/src/cli/loopgate ledger verify --state loopgate-demo/state
