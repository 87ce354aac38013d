//! The event envelope: one line of canonical Loupe JSONL.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{keys, EventKind, Timestamp, TokenUsage};

/// Identity of the agent that produced an event, when it is not the session's
/// main agent (subagents, swarm workers, workflow agents).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRef {
    /// Stable id of the agent instance (attocode-ts `subagentId`, `gen_ai.agent.id`).
    pub id: String,
    /// Human-readable name (`gen_ai.agent.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Role or type (`researcher`, `coder`...).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    /// Session of the agent that spawned this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_session_id: Option<String>,
    /// Parent iteration during which this agent was spawned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawned_at_iteration: Option<u32>,
}

/// One trace event. Events with a `duration_ms` close a span; the span started
/// at `timestamp - duration_ms`. `span_id` ties a start event to its end event;
/// `parent_event_id` points at the enclosing span (its `span_id`, or the
/// `event_id` of a span recorded as a single event).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique within the session; deduplicates re-ingested events.
    pub event_id: String,
    /// What happened.
    pub kind: EventKind,
    /// When it was recorded (for span-closing events, the end of the span).
    pub timestamp: Timestamp,
    /// The session (conversation, run) it belongs to.
    pub session_id: String,
    /// Distributed trace id (OTLP, attocode-ts `traceId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The span this event opens or closes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// The enclosing span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_event_id: Option<String>,
    /// ReAct iteration number (1-based), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u32>,
    /// Conversational turn number (1-based), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// Duration of the span this event closes, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// The producing agent, when it is not the session's main agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Box<AgentRef>>,
    /// Kind-specific payload; keys are listed in [`crate::keys`] and docs/format.md.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
}

impl Event {
    /// A bare event with no payload.
    pub fn new(
        event_id: impl Into<String>,
        kind: EventKind,
        timestamp: Timestamp,
        session_id: impl Into<String>,
    ) -> Self {
        Event {
            event_id: event_id.into(),
            kind,
            timestamp,
            session_id: session_id.into(),
            trace_id: None,
            span_id: None,
            parent_event_id: None,
            iteration: None,
            turn: None,
            duration_ms: None,
            agent: None,
            data: Map::new(),
        }
    }

    /// Sets a payload field (builder style).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    /// When the span this event belongs to started: `timestamp - duration_ms`.
    pub fn start_time(&self) -> Timestamp {
        match self.duration_ms {
            Some(d) if d.is_finite() && d > 0.0 => self.timestamp.minus_millis(d),
            _ => self.timestamp,
        }
    }

    /// A payload string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    /// A payload unsigned integer (accepts integral floats).
    pub fn u64(&self, key: &str) -> Option<u64> {
        value_u64(self.data.get(key)?)
    }

    /// A payload number.
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.data.get(key).and_then(Value::as_f64)
    }

    /// A payload boolean.
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.data.get(key).and_then(Value::as_bool)
    }

    /// Token usage of an LLM response (`data.usage`), empty when absent.
    /// Each count is read on its own, leniently ([`value_u64`]: integral
    /// floats and numeric strings count): one odd count is left out, it
    /// does not take the others with it.
    pub fn usage(&self) -> TokenUsage {
        let mut u = TokenUsage::default();
        let Some(Value::Object(usage)) = self.data.get(keys::USAGE) else {
            return u;
        };
        // One pass over the members (a lookup per count costs more).
        for (key, value) in usage {
            let count = match key.as_str() {
                "input_tokens" => &mut u.input_tokens,
                "output_tokens" => &mut u.output_tokens,
                "cache_read_tokens" => &mut u.cache_read_tokens,
                "cache_write_tokens" => &mut u.cache_write_tokens,
                "reasoning_tokens" => &mut u.reasoning_tokens,
                "total_tokens" => &mut u.total_tokens,
                _ => continue,
            };
            *count = value_u64(value);
        }
        u
    }

    /// Stores token usage in `data.usage`.
    pub fn set_usage(&mut self, usage: &TokenUsage) {
        if let Ok(v) = serde_json::to_value(usage) {
            self.data.insert(keys::USAGE.to_owned(), v);
        }
    }

    /// `data.model`.
    pub fn model(&self) -> Option<&str> {
        self.str(keys::MODEL)
    }

    /// `data.provider`.
    pub fn provider(&self) -> Option<&str> {
        self.str(keys::PROVIDER)
    }

    /// `data.tool`: the tool's name on tool events.
    pub fn tool_name(&self) -> Option<&str> {
        self.str(keys::TOOL)
    }

    /// `data.cost_usd`: a cost reported by the trace.
    pub fn reported_cost(&self) -> Option<f64> {
        self.f64(keys::COST_USD)
    }

    /// `data.status`.
    pub fn status(&self) -> Option<&str> {
        self.str(keys::STATUS)
    }

    /// `data.error` as text (strings as they are, other values as JSON).
    pub fn error_message(&self) -> Option<String> {
        match self.data.get(keys::ERROR)? {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            v => Some(v.to_string()),
        }
    }

    /// Whether a subagent (or other non-main agent) produced this event.
    pub fn is_subagent(&self) -> bool {
        self.agent.is_some()
    }

    /// How much a copy of this event says, by which of two copies of one
    /// event read twice (same session, id and time) is kept: the one with
    /// more payload members. The same event can come in two shapes (a
    /// MyAgent runs export and its traces export, where only the latter's
    /// `session_start` holds the task and metadata); `loupe view`,
    /// `convert` and the stores all keep the fuller one by this measure.
    pub fn fullness(&self) -> usize {
        self.data.len()
    }

    /// Whether this copy of an event says more than `other`, a copy read
    /// earlier ([`Event::fullness`]); on a tie the earlier copy stays.
    pub fn is_fuller_than(&self, other: &Event) -> bool {
        self.fullness() > other.fullness()
    }
}

/// Reads an unsigned integer from JSON, accepting integral floats and numeric strings.
pub fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse().ok().or_else(|| {
                // "200.0", "2e2": an integral number written as a float.
                s.parse::<f64>()
                    .ok()
                    .and_then(|f| value_u64(&Value::from(f)))
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let mut e = Event::new("e1", EventKind::LlmResponse, Timestamp(1_000_000), "s1")
            .with(keys::MODEL, "claude-sonnet-4-5")
            .with(keys::STOP_REASON, "tool_use");
        e.iteration = Some(3);
        e.duration_ms = Some(250.0);
        e.set_usage(&TokenUsage::otel(1000, 20).with_cache(900, 0));
        e
    }

    #[test]
    fn serialises_in_envelope_order_without_nulls() {
        let line = serde_json::to_string(&sample()).unwrap();
        assert!(line.starts_with(
            r#"{"event_id":"e1","kind":"llm_response","timestamp":"1970-01-01T00:00:01.000000Z","session_id":"s1","iteration":3,"duration_ms":250.0,"data":{"#
        ));
        assert!(!line.contains("null"));
    }

    #[test]
    fn round_trips_including_unknown_kinds_and_fields() {
        let e = sample();
        let back: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
        let odd = r#"{"event_id":"x","kind":"quantum_leap","timestamp":"2026-01-01T00:00:00Z","session_id":"s","data":{"a":[1,{"b":null}]}}"#;
        let e: Event = serde_json::from_str(odd).unwrap();
        assert_eq!(e.kind.as_str(), "quantum_leap");
        let again: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(again, e);
    }

    #[test]
    fn accessors_read_the_payload() {
        let e = sample();
        assert_eq!(e.usage().cache_hit_rate(), Some(0.9));
        assert_eq!(e.model(), Some("claude-sonnet-4-5"));
        assert_eq!(e.start_time(), Timestamp(750_000));
        assert_eq!(value_u64(&serde_json::json!(12.0)), Some(12));
        assert_eq!(value_u64(&serde_json::json!("12")), Some(12));
        assert_eq!(value_u64(&serde_json::json!(-1)), None);
    }

    #[test]
    fn usage_round_trips_through_the_payload() {
        for u in [
            TokenUsage::default(),
            TokenUsage::otel(1000, 20).with_cache(900, 0),
            TokenUsage::otel(5, 7).with_reasoning(3),
        ] {
            let mut e = Event::new("e", EventKind::LlmResponse, Timestamp(0), "s");
            e.set_usage(&u);
            assert_eq!(e.data[keys::USAGE], serde_json::to_value(u).unwrap());
            assert_eq!(e.usage(), u);
        }
    }

    #[test]
    fn one_odd_count_does_not_lose_the_others() {
        let e = Event::new("e", EventKind::LlmResponse, Timestamp(0), "s").with(
            keys::USAGE,
            serde_json::json!({"input_tokens": 1000.0, "output_tokens": "50",
                "reasoning_tokens": 5.5, "cache_read_tokens": -3, "cache_write_tokens": 1e30}),
        );
        let u = e.usage();
        assert_eq!((u.input_tokens, u.output_tokens), (Some(1000), Some(50)));
        assert_eq!(
            (
                u.reasoning_tokens,
                u.cache_read_tokens,
                u.cache_write_tokens
            ),
            (None, None, None)
        );
    }
}
