#!/usr/bin/env bash
# Checks that the ClickHouse backend's DDL and queries run on current
# ClickHouse, via chdb (embedded ClickHouse from PyPI) in a local venv
# (.venv-chdb, created once). Usage: scripts/check-clickhouse-sql-chdb.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-chdb"
if [ ! -x "$venv/bin/python" ]; then
    PYENV_VERSION=3.12.1 python3.12 -m venv "$venv"
    "$venv/bin/pip" install -q chdb
fi
cd "$root"
cargo run -q -p loupe-store --features clickhouse --example clickhouse_sql -- loupe_chdb_check \
    | "$venv/bin/python" "$root/scripts/check-clickhouse-sql-chdb.py"
