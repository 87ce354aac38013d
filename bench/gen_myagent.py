#!/usr/bin/env python3
"""Writes a large generated MyAgent traces export (`export_traces_to_json`'s
shape, seed-formats.md section 3), for benchmarking how Loupe reads one big
export that holds many traces.

    python3 bench/gen_myagent.py OUT.json TRACES [--runs]

Each trace is an agent run of 2-6 steps: a `step_N` agent run holding a
`think` run (an LLM call with token usage) and a `tool` run, exported in
completion order as MyAgent does (children before their step, steps before
nothing). Pretty-printed with `indent=2`, as MyAgent writes it. With
`--runs`, the same runs as a runs export (`export_runs_to_json`: every run
of every trace in one list, in completion order, so concurrent traces
interleave; traces start 20 s apart and last up to 30 s).
Deterministic: the same arguments give the same bytes.
"""

import json
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone

TOOLS = ["get_weather", "search_web", "read_file", "run_python"]


def stamp(t):
    return t.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def run(rng, trace_id, parent, name, run_type, start, seconds, **extra):
    base = {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "trace_id": trace_id,
        "parent_run_id": parent,
        "name": name,
        "run_type": run_type,
        "status": "success",
        "start_time": stamp(start),
        "end_time": stamp(start + timedelta(seconds=seconds)),
        "inputs": {},
        "outputs": {},
        "error": None,
        "error_type": None,
        "stacktrace": None,
        "metadata": {},
        "tags": [],
        "token_usage": None,
        "cost": None,
        "latency_ms": seconds * 1000.0,
    }
    base.update(extra)
    return base


def trace(rng, number, start):
    trace_id = str(uuid.UUID(int=rng.getrandbits(128)))
    task = "Task %d: summarise the weather in %s for a travel plan" % (
        number,
        rng.choice(["Paris", "Lima", "Oslo", "Kyoto"]),
    )
    runs = []
    t = start
    for step in range(1, rng.randint(2, 6) + 1):
        step_start = t
        think_s = rng.uniform(0.5, 3.0)
        tool = rng.choice(TOOLS)
        prompt = rng.randint(300, 4000)
        think = run(
            rng, trace_id, None, "think_step_%d" % step, "think", t, think_s,
            inputs={"role": "user", "content": task, "model": rng.choice(["gpt-4o", "claude-sonnet-4-5"])},
            outputs={
                "role": "assistant",
                "content": "Calling %s." % tool,
                "tool_calls": [{"id": "call_%04d" % step, "type": "function",
                                "function": {"name": tool, "arguments": "{\"q\": \"x\"}"}}],
            },
            token_usage={"prompt_tokens": prompt, "completion_tokens": 120,
                         "total_tokens": prompt + 120},
        )
        t += timedelta(seconds=think_s)
        tool_s = rng.uniform(0.05, 2.0)
        failed = rng.random() < 0.1
        act = run(
            rng, trace_id, None, tool, "tool", t, tool_s,
            inputs={"q": "x"},
            outputs={} if failed else {"result": "ok " * rng.randint(5, 60)},
            status="error" if failed else "success",
            error="upstream timeout" if failed else None,
            error_type="RuntimeError" if failed else None,
            metadata={"tool_description": tool, "tool_parameters": {"type": "object"}},
        )
        t += timedelta(seconds=tool_s)
        agent = run(
            rng, trace_id, None, "step_%d" % step, "agent", step_start,
            (t - step_start).total_seconds(),
            inputs={"step_number": step, "max_steps": 10, "system_prompt": "You are an agent."},
            outputs={"result": "Observed output of %s" % tool},
        )
        think["parent_run_id"] = agent["id"]
        act["parent_run_id"] = agent["id"]
        runs += [think, act, agent]
    return {
        "id": trace_id,
        "name": "agent_execution",
        "start_time": stamp(start),
        "end_time": stamp(t),
        "request": task,
        "response": "Done.",
        "runs": runs,
        "metadata": {"user_id": "u-%d" % (number % 50), "session_id": "s-%d" % number,
                     "tags": ["bench"], "environment": "bench", "version": "0.1.0",
                     "custom_fields": {"agent_name": "bench-agent", "max_steps": 10}},
        "status": "success",
        "total_cost": None,
        "total_tokens": None,
    }


def main():
    out, count = sys.argv[1], int(sys.argv[2])
    runs_export = "--runs" in sys.argv[3:]
    rng = random.Random(7)
    start = datetime(2026, 2, 28, 12, 0, tzinfo=timezone.utc)
    gap = timedelta(seconds=20) if runs_export else timedelta(minutes=1)
    traces = [trace(rng, i, start + i * gap) for i in range(count)]
    if runs_export:
        runs = [r for t in traces for r in t["runs"]]
        runs.sort(key=lambda r: r["end_time"])
        doc = {"metadata": {"export_time": "2026-03-01T00:00:00", "total_runs": len(runs),
                            "exported_count": len(runs)}, "runs": runs}
        with open(out, "w") as f:
            json.dump(doc, f, indent=2)
        return
    doc = {
        "metadata": {"export_time": "2026-03-01T00:00:00", "total_traces": count,
                     "exported_count": count},
        "traces": traces,
    }
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)


if __name__ == "__main__":
    main()
