"""Deterministic attocode-py trace generator for bench/compare-baselines.sh.

Writes one session per file, named ``{session_id}.jsonl`` like attocode-py's
TraceCollector (`.attocode/traces/{session_id}.jsonl`, see
shared/reference/seed-formats.md §2), split into sub-directories of
``FILES_PER_DIR`` files. Lines follow the real writer's shape (``json.dumps``
default separators, float epoch-seconds timestamps, 12-hex event ids): a
session_start, iterations of llm_request/llm_response (input, output, cache
read/write tokens, cost) and one to three tool_start/tool_end or tool_error
pairs, occasional budget checks, compactions and subagents, file changes and a
session_end with its summary. Sessions average ~15 KB.

Usage: python3 gen_attocode_sessions.py OUT_DIR SIZE_MB
Prints "sessions=N files=N bytes=N" when done. Same arguments -> same bytes.
"""

import json
import os
import random
import sys

FILES_PER_DIR = 2000
MODELS = [
    ("claude-sonnet-4-20250514", "anthropic", 3.0, 15.0),
    ("claude-haiku-4-5", "anthropic", 1.0, 5.0),
    ("gpt-4o", "openai", 2.5, 10.0),
    ("claude-opus-4-1", "anthropic", 15.0, 75.0),
]
GOALS = [
    "Add input validation to the /users endpoint",
    "Refactor config loader",
    "Fix flaky test in test_orders.py",
    "Implement pagination for /search",
    "Upgrade the logging setup to structured JSON",
    "Investigate memory growth in the worker pool",
]
TOOL_CALLS = [
    ("read_file", {"path": "src/api/users.py"}, "def create_user(payload):\n    user = User(**payload)\n    db.add(user)\n    return user"),
    ("grep", {"pattern": "validate", "path": "src"}, "src/api/util.py:12: def validate(x)\nsrc/api/orders.py:40:    validate(order)"),
    ("bash", {"command": "pytest -q tests/test_users.py"}, "3 failed, 12 passed in 4.21s"),
    ("edit_file", {"path": "src/api/users.py", "old": "user = User(**payload)", "new": "user = User(**validate(payload))"}, "ok"),
    ("glob", {"pattern": "src/**/*.py"}, "src/api/users.py\nsrc/api/util.py\nsrc/api/orders.py\nsrc/main.py"),
    ("write_file", {"path": "tests/test_validation.py", "content": "def test_rejects_empty_name():\n    ..."}, "wrote 38 bytes"),
    ("read_file", {"path": "src/config/loader.py"}, "import os\nimport yaml\n\ndef load(path):\n    with open(path) as f:\n        return yaml.safe_load(f)"),
    ("bash", {"command": "ruff check src"}, "All checks passed!"),
]
TOOL_ERRORS = [
    "old_string not found in file",
    "Command timed out after 120s",
    "FileNotFoundError: [Errno 2] No such file or directory: 'src/api/user.py'",
    "Permission denied",
]


class Session:
    """Accumulates one session's lines and the summary counters."""

    def __init__(self, rng, session_id, start):
        self.rng = rng
        self.session_id = session_id
        self.t = start
        self.lines = []
        self.tokens = 0
        self.cost = 0.0
        self.tool_calls = 0
        self.llm_calls = 0
        self.errors = 0
        self.compactions = 0

    def emit(self, kind, data=None, iteration=None, duration_ms=None, parent=None):
        event = {
            "event_id": "%012x" % self.rng.getrandbits(48),
            "kind": kind,
            "timestamp": round(self.t, 4),
            "session_id": self.session_id,
        }
        if iteration is not None:
            event["iteration"] = iteration
        if data is not None:
            event["data"] = data
        if parent is not None:
            event["parent_event_id"] = parent
        if duration_ms is not None:
            event["duration_ms"] = duration_ms
        self.lines.append(json.dumps(event))
        return event["event_id"]


def make_session(rng, index):
    session_id = "sess-%08d-%06x" % (index, rng.getrandbits(24))
    model, provider, in_price, out_price = MODELS[rng.randrange(len(MODELS))]
    s = Session(rng, session_id, 1772280000.0 + index * 97.0)
    s.emit("session_start", {"goal": rng.choice(GOALS), "model": model, "provider": provider,
                             "working_directory": "/repo", "mode": "build"})
    iterations = rng.randint(4, 11)
    context = rng.randint(3000, 6000)
    messages = 3
    for it in range(1, iterations + 1):
        s.emit("iteration_start", iteration=it)
        s.t += 0.05
        s.emit("llm_request", {"messages_count": messages, "model": model, "tool_count": 12}, iteration=it)
        fresh = rng.randint(300, 2500)
        cache_read = context if it > 1 else 0
        # attocode-py's input_tokens is the uncached input (Anthropic style,
        # seed-formats.md §2); the total counts cache reads and writes too,
        # as in the real samples.
        cache_write = fresh
        input_tokens = fresh
        output_tokens = rng.randint(80, 900)
        cost = round((fresh + cache_write * 1.25 + cache_read * 0.1) * in_price / 1e6
                     + output_tokens * out_price / 1e6, 6)
        ntools = 0 if it == iterations else rng.randint(1, 3)
        llm_ms = float(rng.randint(600, 6000))
        s.t += llm_ms / 1000
        total = input_tokens + output_tokens + cache_read + cache_write
        s.emit("llm_response", {"tokens": total, "cost": cost, "model": model,
                                "input_tokens": input_tokens, "output_tokens": output_tokens,
                                "cache_read_tokens": cache_read, "cache_write_tokens": cache_write,
                                "stop_reason": "tool_use" if ntools else "end_turn",
                                "tool_calls": ntools}, iteration=it, duration_ms=llm_ms)
        s.llm_calls += 1
        s.tokens += total
        s.cost += cost
        context += fresh + output_tokens
        messages += 1 + 2 * ntools
        for _ in range(ntools):
            tool, args, result = TOOL_CALLS[rng.randrange(len(TOOL_CALLS))]
            s.emit("tool_start", {"tool": tool, "args": args}, iteration=it)
            tool_ms = float(rng.randint(5, 9000))
            s.t += tool_ms / 1000
            s.tool_calls += 1
            if rng.random() < 0.08:
                s.errors += 1
                s.emit("tool_error", {"tool": tool, "args": args, "error": rng.choice(TOOL_ERRORS)},
                       iteration=it, duration_ms=tool_ms)
            else:
                s.emit("tool_end", {"tool": tool, "args": args, "result": result},
                       iteration=it, duration_ms=tool_ms)
        if rng.random() < 0.3:
            s.emit("budget_check", {"status": "ok" if it < 10 else "warning",
                                    "usage_fraction": round(it / 16, 2)}, iteration=it)
        if context > 40000 and rng.random() < 0.5:
            s.emit("compaction_start", {"messages": messages, "reason": "threshold 0.8"}, iteration=it)
            saved = context // 2
            s.t += 1.3
            s.emit("compaction_end", {"messages_before": messages, "messages_after": messages // 2,
                                      "tokens_saved": saved, "strategy": "summarize"},
                   iteration=it, duration_ms=1300.0)
            context -= saved
            messages //= 2
            s.compactions += 1
        if rng.random() < 0.05:
            spawn = s.emit("subagent_spawn", {"agent_id": "researcher-%d-1" % it, "event_type": "spawn",
                                              "task": "Find existing validators", "model": "claude-haiku-4-5"},
                           iteration=it)
            sub_ms = float(rng.randint(2000, 30000))
            s.t += sub_ms / 1000
            s.emit("subagent_complete", {"agent_id": "researcher-%d-1" % it, "event_type": "complete",
                                         "tokens": rng.randint(5000, 30000), "cost": 0.0121, "success": True},
                   iteration=it, duration_ms=sub_ms, parent=spawn)
        s.t += 0.02
        s.emit("iteration_end", iteration=it, duration_ms=round(llm_ms + 100.0, 1))
        s.t += 0.1
    s.emit("file_change", {"path": "src/api/users.py", "action": "modified",
                           "lines_added": rng.randint(1, 80), "lines_removed": rng.randint(0, 30)})
    duration = round(s.t - (1772280000.0 + index * 97.0), 3)
    s.emit("session_end", {"status": "complete", "duration_seconds": duration, "summary": {
        "session_id": session_id, "total_events": len(s.lines) + 1, "total_tokens": s.tokens,
        "total_cost": round(s.cost, 6), "duration_seconds": duration, "iterations": iterations,
        "tool_calls": s.tool_calls, "llm_calls": s.llm_calls, "errors": s.errors,
        "compactions": s.compactions}})
    return session_id, "\n".join(s.lines) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_attocode_sessions.py OUT_DIR SIZE_MB")
    out_dir, size_mb = sys.argv[1], int(sys.argv[2])
    target = size_mb * 1024 * 1024
    rng = random.Random(4)
    written = 0
    index = 0
    while written < target:
        sub = os.path.join(out_dir, "d%04d" % (index // FILES_PER_DIR))
        if index % FILES_PER_DIR == 0:
            os.makedirs(sub, exist_ok=True)
        session_id, text = make_session(rng, index)
        data = text.encode()
        with open(os.path.join(sub, session_id + ".jsonl"), "wb") as f:
            f.write(data)
        written += len(data)
        index += 1
    print("sessions=%d files=%d bytes=%d" % (index, index, written))


if __name__ == "__main__":
    main()
