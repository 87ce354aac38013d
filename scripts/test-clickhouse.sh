#!/usr/bin/env bash
# Runs loupe-store's ClickHouse behaviour tests against a real, throwaway
# ClickHouse server: installs Debian's clickhouse-server if missing
# (idempotent), starts it on 127.0.0.1 on a free port with a temporary data
# directory and config (foreground process, no system service), waits for
# /ping, runs the tests, stops it. Usage: scripts/test-clickhouse.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

if ! command -v clickhouse-server >/dev/null 2>&1; then
    echo "test-clickhouse: installing clickhouse-server (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq clickhouse-server >/dev/null
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

work="$(mktemp -d -t loupe-clickhouse.XXXXXX)"
http_port="$(free_port)"
tcp_port="$(free_port)"
mkdir -p "$work/data" "$work/tmp" "$work/user_files" "$work/format_schemas"

cat >"$work/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
XML

cat >"$work/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <path>$work/data/</path>
  <tmp_path>$work/tmp/</tmp_path>
  <user_files_path>$work/user_files/</user_files_path>
  <format_schema_path>$work/format_schemas/</format_schema_path>
  <users_config>$work/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
XML

clickhouse-server --config-file="$work/config.xml" >"$work/server.log" 2>&1 &
server_pid=$!
cleanup() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

url="http://127.0.0.1:$http_port"
for _ in $(seq 1 120); do
    if curl -fsS "$url/ping" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "test-clickhouse: the server exited; its log:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.5
done
curl -fsS "$url/ping" >/dev/null || { echo "test-clickhouse: no /ping answer at $url" >&2; cat "$work/server.log" >&2; exit 1; }
echo "test-clickhouse: ClickHouse $(curl -fsS "$url/?query=SELECT%20version()") at $url" >&2

cd "$root"
LOUPE_TEST_CLICKHOUSE_URL="$url" CARGO_TARGET_DIR="$target" \
    cargo test -p loupe-store --features clickhouse --test clickhouse -- --test-threads=2
# The CLI on the same server (`--db clickhouse://...`).
LOUPE_TEST_CLICKHOUSE_URL="$url" CARGO_TARGET_DIR="$target" \
    cargo test -p loupe-cli --test store_commands the_store_commands_work_on_clickhouse
