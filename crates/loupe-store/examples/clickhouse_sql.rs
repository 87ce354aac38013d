//! Prints the ClickHouse DDL and representative queries the backend sends, one
//! statement per block separated by `;;`, for `scripts/check-clickhouse-sql-chdb.sh`
//! to run against current ClickHouse (chdb). Usage:
//! `cargo run -p loupe-store --features clickhouse --example clickhouse_sql -- DB`

fn main() {
    let db = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "loupe_check".to_owned());
    let mut blocks: Vec<String> = loupe_store::CLICKHOUSE_SQL
        .iter()
        .map(|(_, sql)| sql.replace("{db}", &db))
        .collect();
    blocks.extend(loupe_store::clickhouse_sample_queries(&db));
    println!("{}", blocks.join("\n;;\n"));
}
