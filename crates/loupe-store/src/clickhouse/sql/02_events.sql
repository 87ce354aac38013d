CREATE TABLE IF NOT EXISTS {db}.events (
    session_id String,
    ts_us Int64,
    event_id String,
    seq UInt64,
    kind String,
    body String,
    texts Array(String),
    is_tool_run UInt8,
    tool String,
    tool_success UInt8,
    duration_ms Float64,
    has_duration UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY intDiv(ts_us, 2592000000000)
ORDER BY (session_id, ts_us, event_id)
