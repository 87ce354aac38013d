CREATE TABLE IF NOT EXISTS {db}.sessions (
    session_id String,
    agent_name String,
    task String,
    model String,
    status String,
    has_started UInt8,
    started_at Int64,
    last_activity Int64,
    has_duration UInt8,
    duration_ms Float64,
    cost_usd Float64,
    total_tokens UInt64,
    has_cost UInt8 DEFAULT 1,
    has_tokens UInt8 DEFAULT 1,
    has_errors UInt8,
    tags Array(String),
    tools Array(String),
    meta_keys Array(String),
    meta_values Array(String),
    row_json String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY session_id
