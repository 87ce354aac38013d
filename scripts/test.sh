#!/usr/bin/env bash
# The whole test suite, as the README and CI run it. Installs what the tests
# need (idempotently), then checks formatting and lints and runs every test,
# including the ones against real external parts (Chromium, ClickHouse).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/samples ]; then
  echo "test.sh: ../shared/samples is missing; the golden tests read the seed samples from there" >&2
  exit 2
fi

bash scripts/setup-test-deps.sh

# A clean clone builds once: incremental caches would only take disk space.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The recorder's optional `tracing` layer: no workspace member turns it on.
cargo clippy -p loupe --all-targets --features tracing --locked -- -D warnings
echo "== cargo doc (warnings are errors: broken or private intra-doc links)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
echo "== cargo test"
cargo test --workspace --locked
echo "== cargo test -p loupe --features tracing (the tracing layer)"
cargo test -p loupe --features tracing --locked

for extra in scripts/test-clickhouse.sh scripts/check-clickhouse-sql-chdb.sh; do
  if [ -f "$extra" ]; then
    echo "== $extra"
    bash "$extra"
  fi
done
echo "test.sh: all tests passed"
