#!/usr/bin/env bash
# Installs what Loupe's test suite needs beyond the Rust toolchain, idempotently:
# a real headless Chromium (HTML report and web viewer tests), jq (seed jq
# recipes), tmux (TUI end-to-end tests). Safe to run again: it installs only
# what is missing. ClickHouse has its own script (scripts/test-clickhouse.sh).
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v tmux >/dev/null 2>&1 || need+=(tmux)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup-test-deps: installing ${need[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "setup-test-deps: chromium=$(command -v chromium) jq=$(command -v jq) tmux=$(command -v tmux)"
# The OpenTelemetry Python SDK for loupe-server's real-client test.
bash "$(dirname "${BASH_SOURCE[0]}")/setup-otel-venv.sh"
