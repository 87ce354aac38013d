#!/usr/bin/env bash
# Creates .venv-otel at the workspace root with the OpenTelemetry Python SDK
# and its OTLP/HTTP exporter, for the real-client test
# (crates/loupe-server/tests/otel_client.rs). Idempotent: does nothing when
# the venv already has the pinned versions.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-otel"
# Pinned so the test sees the same exporter behaviour everywhere.
otel_version="1.38.0"
packages=(
  "opentelemetry-sdk==$otel_version"
  "opentelemetry-exporter-otlp-proto-http==$otel_version"
)

stamp="$venv/.loupe-otel-$otel_version"
if [ -f "$stamp" ] && [ -x "$venv/bin/python" ]; then
  echo "setup-otel-venv: $venv is ready"
  exit 0
fi

# Python 3.12 when pyenv has it; the system python3 otherwise.
if PYENV_VERSION=3.12.1 python3.12 --version >/dev/null 2>&1; then
  PYENV_VERSION=3.12.1 python3.12 -m venv "$venv"
else
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
touch "$stamp"
echo "setup-otel-venv: installed ${packages[*]} into $venv"
