//! Translates a [`SessionFilter`] into a SQL `WHERE` clause over `sessions s`
//! (joined with `session_keys k`), with the semantics of
//! [`SessionFilter::matches_row`] and FTS5 for text.

use rusqlite::types::Value as SqlValue;

use crate::query::{text_terms, SessionFilter, SessionSort};

/// A `WHERE` clause and its positional parameters.
pub(crate) struct Where {
    pub(crate) sql: String,
    pub(crate) params: Vec<SqlValue>,
}

/// An FTS5 `MATCH` expression for a text query: each term quoted (so
/// punctuation and FTS operators in user input are plain text), `*` for
/// prefixes, implicit AND. `None` when the query has no term.
pub(crate) fn fts_match(text: &str) -> Option<String> {
    let terms = text_terms(text);
    if terms.is_empty() {
        return None;
    }
    let parts: Vec<String> = terms
        .iter()
        .map(|t| {
            let quoted = format!("\"{}\"", t.token.replace('"', "\"\""));
            if t.prefix {
                format!("{quoted}*")
            } else {
                quoted
            }
        })
        .collect();
    Some(parts.join(" "))
}

pub(crate) fn session_where(filter: &SessionFilter) -> Where {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    let bind = |params: &mut Vec<SqlValue>, v: SqlValue| {
        params.push(v);
        format!("?{}", params.len())
    };
    if !filter.session_ids.is_empty() {
        let marks: Vec<String> = filter
            .session_ids
            .iter()
            .map(|id| bind(&mut params, SqlValue::Text(id.clone())))
            .collect();
        clauses.push(format!("k.session_id IN ({})", marks.join(",")));
    }
    if let Some(agent) = &filter.agent {
        let p = bind(&mut params, SqlValue::Text(agent.clone()));
        clauses.push(format!("s.agent_name = {p}"));
    }
    if let Some(needle) = &filter.name_contains {
        let p = bind(&mut params, SqlValue::Text(needle.to_lowercase()));
        clauses.push(format!(
            "(instr(lower(coalesce(s.agent_name, '')), {p}) > 0 OR instr(lower(coalesce(s.task, '')), {p}) > 0)"
        ));
    }
    if let Some(model) = &filter.model {
        let p = bind(&mut params, SqlValue::Text(model.clone()));
        clauses.push(format!("s.model = {p}"));
    }
    if let Some(status) = filter.status {
        let p = bind(&mut params, SqlValue::Text(status.as_str().to_owned()));
        clauses.push(format!("s.status = {p}"));
    }
    if let Some(t) = filter.since {
        let p = bind(&mut params, SqlValue::Integer(t.as_micros()));
        clauses.push(format!("s.started_at >= {p}"));
    }
    if let Some(t) = filter.until {
        let p = bind(&mut params, SqlValue::Integer(t.as_micros()));
        clauses.push(format!("s.started_at < {p}"));
    }
    if let Some(want) = filter.has_errors {
        let p = bind(&mut params, SqlValue::Integer(i64::from(want)));
        clauses.push(format!("s.has_errors = {p}"));
    }
    let mut range = |col: &str, op: &str, v: Option<SqlValue>, params: &mut Vec<SqlValue>| {
        if let Some(v) = v {
            let p = bind(params, v);
            clauses.push(format!("{col} {op} {p}"));
        }
    };
    range(
        "s.duration_ms",
        ">=",
        filter.min_duration_ms.map(SqlValue::Real),
        &mut params,
    );
    range(
        "s.duration_ms",
        "<=",
        filter.max_duration_ms.map(SqlValue::Real),
        &mut params,
    );
    range(
        "s.cost_usd",
        ">=",
        filter.min_cost_usd.map(SqlValue::Real),
        &mut params,
    );
    range(
        "s.cost_usd",
        "<=",
        filter.max_cost_usd.map(SqlValue::Real),
        &mut params,
    );
    range(
        "s.total_tokens",
        ">=",
        filter.min_tokens.map(tokens_value),
        &mut params,
    );
    range(
        "s.total_tokens",
        "<=",
        filter.max_tokens.map(tokens_value),
        &mut params,
    );
    for tool in &filter.tools {
        let p = bind(&mut params, SqlValue::Text(tool.clone()));
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM session_tools t WHERE t.tool = {p} AND t.sid = s.sid)"
        ));
    }
    for tag in &filter.tags {
        let p = bind(&mut params, SqlValue::Text(tag.clone()));
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM session_tags t WHERE t.tag = {p} AND t.sid = s.sid)"
        ));
    }
    for (key, value) in &filter.metadata {
        let pk = bind(&mut params, SqlValue::Text(key.clone()));
        let pv = bind(&mut params, SqlValue::Text(value.clone()));
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM session_meta m WHERE m.key = {pk} AND m.value = {pv} AND m.sid = s.sid)"
        ));
    }
    if let Some(text) = &filter.text {
        match fts_match(text) {
            Some(expr) => {
                let p = bind(&mut params, SqlValue::Text(expr));
                clauses.push(format!(
                    "s.sid IN (SELECT b.sid FROM contents_fts f \
                     JOIN all_texts x ON x.content_id = f.rowid \
                     JOIN event_blocks b ON b.id = x.block_id \
                     WHERE contents_fts MATCH {p})"
                ));
            }
            // A query with no searchable term matches nothing, as in memory.
            None => clauses.push("0".to_owned()),
        }
    }
    let sql = if clauses.is_empty() {
        "1".to_owned()
    } else {
        clauses.join(" AND ")
    };
    Where { sql, params }
}

fn tokens_value(t: u64) -> SqlValue {
    SqlValue::Integer(i64::try_from(t).unwrap_or(i64::MAX))
}

/// `ORDER BY` body matching [`SessionSort::compare`].
pub(crate) fn order_by(sort: SessionSort, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let keys: &[&str] = match sort {
        SessionSort::StartedAt => &["s.started_at"],
        SessionSort::Duration => &["coalesce(s.duration_ms, -1.0)"],
        SessionSort::Cost => &["s.cost_usd"],
        SessionSort::Tokens => &["s.total_tokens"],
        SessionSort::Name => &["coalesce(s.agent_name, '')", "coalesce(s.task, '')"],
    };
    let mut parts: Vec<String> = keys.iter().map(|k| format!("{k} {dir}")).collect();
    // Unknown (NULL) costs and token counts last in either direction.
    match sort {
        SessionSort::Cost => parts.insert(0, "s.cost_usd IS NULL".to_owned()),
        SessionSort::Tokens => parts.insert(0, "s.total_tokens IS NULL".to_owned()),
        SessionSort::StartedAt | SessionSort::Duration | SessionSort::Name => {}
    }
    parts.push(format!("k.session_id {dir}"));
    parts.join(", ")
}
