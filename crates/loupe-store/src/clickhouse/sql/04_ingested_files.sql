CREATE TABLE IF NOT EXISTS {db}.ingested_files (
    path String,
    state String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY path
