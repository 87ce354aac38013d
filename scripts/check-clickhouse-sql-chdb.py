"""Runs loupe-store's ClickHouse DDL and representative queries (printed by
the `clickhouse_sql` example, blocks separated by `;;`) in chdb, the embedded
current ClickHouse, to prove the backend's SQL also works there, not only on
Debian's 18.16. Exits non-zero on the first failing statement."""

import sys

import chdb
from chdb import session


def main() -> int:
    blocks = [b.strip() for b in sys.stdin.read().split("\n;;\n") if b.strip()]
    sess = session.Session()
    version = sess.query("SELECT version()", "CSV").data().strip()
    print(f"chdb {chdb.__version__}, ClickHouse {version}: {len(blocks)} statements")
    for i, sql in enumerate(blocks, 1):
        try:
            result = sess.query(sql, "JSONEachRow")
        except Exception as e:  # chdb raises on SQL errors
            print(f"statement {i} FAILED: {e}\n{sql}", file=sys.stderr)
            return 1
        rows = [l for l in result.data().splitlines() if l.strip()] if result else []
        print(f"  ok {i:2}: {len(rows)} rows  {sql.splitlines()[0][:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
