#!/usr/bin/env bash
# Installs the Debian 12 packages Loopgate builds and tests with. Skips apt when all are present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libsimdjson-dev libyaml-cpp-dev libabsl-dev libcli11-dev libssl-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev sqlite3
  # The tests run the documented standard-tools recipes: Python's hashlib for ledger exports and
  # proofs, the openssl command for checkpoint signatures (docs/ledger-format.md 7 and 9.9).
  python3 openssl
  # Tests only: src/analytics checks its statistics against statsmodels (and scipy) at test
  # time, an implementation independent of ours. Without it those checks are skipped.
  python3-statsmodels
  # Tests only: tests/study_report_test.cc opens the study report page in a real browser
  # (headless Chromium: screenshot, DOM, network log) and decodes the screenshot with zlib.
  chromium zlib1g-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "Installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
