#!/usr/bin/env python3
"""Writes a large generated OTLP/JSON traces export, for benchmarking how
Loupe reads one big file that holds many sessions.

    python3 bench/gen_otlp.py OUT.json SPANS [--jsonl] [--concurrent N]

Each conversation is a trace: an `invoke_agent` root span carrying
`gen_ai.conversation.id`, then `chat` spans (OpenTelemetry GenAI attributes,
a 200-character prompt) and `execute_tool` spans under it that do not name
the conversation, so the reader has to join them to it by trace id, as real
SDK exports require. `--concurrent N` conversations run at once and their
spans are interleaved in end-time order, as a batch exporter writes them
(default 16). Without `--jsonl` the output is one `ExportTraceServiceRequest`
document; with it, one request of 1,000 spans per line (the OpenTelemetry
Collector's file exporter). Deterministic: the same arguments give the same
bytes.
"""

import argparse
import json
import random

SPANS_PER_CONVERSATION = 20
MODELS = ["claude-sonnet-4-5", "gpt-4o", "gemini-2.5-pro"]
TOOLS = ["read_file", "grep", "bash", "edit_file"]


def attr(key, value):
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def conversation(rng, number, start_ns):
    """The spans of one conversation, each with its end time."""
    trace_id = "%032x" % rng.getrandbits(128)
    root_id = "%016x" % rng.getrandbits(64)
    conv = "conv-%06d" % number
    model = MODELS[number % len(MODELS)]
    spans = []
    t = start_ns
    for i in range(SPANS_PER_CONVERSATION - 1):
        span_id = "%016x" % rng.getrandbits(64)
        duration = rng.randint(200, 4000) * 1_000_000
        if i % 2 == 0:
            prompt = ("step %d of conversation %s: " % (i, conv)).ljust(200, "x")
            attributes = [
                attr("gen_ai.operation.name", "chat"),
                attr("gen_ai.system", "anthropic"),
                attr("gen_ai.request.model", model),
                attr("gen_ai.response.model", model),
                attr("gen_ai.usage.input_tokens", rng.randint(1000, 30000)),
                attr("gen_ai.usage.output_tokens", rng.randint(50, 2000)),
                attr("gen_ai.usage.cache_read.input_tokens", rng.randint(0, 20000)),
                attr("gen_ai.prompt", prompt),
            ]
            name = "chat " + model
        else:
            tool = TOOLS[i % len(TOOLS)]
            attributes = [
                attr("gen_ai.operation.name", "execute_tool"),
                attr("gen_ai.tool.name", tool),
                attr("gen_ai.tool.call.id", "call-%d" % i),
            ]
            name = "execute_tool " + tool
        failed = rng.random() < 0.03
        span = {
            "traceId": trace_id,
            "spanId": span_id,
            "parentSpanId": root_id,
            "name": name,
            "kind": 3,
            "startTimeUnixNano": str(t),
            "endTimeUnixNano": str(t + duration),
            "attributes": attributes,
            "status": {"code": 2, "message": "tool failed"} if failed else {},
        }
        spans.append((t + duration, span))
        t += duration + 1_000_000
    root = {
        "traceId": trace_id,
        "spanId": root_id,
        "name": "invoke_agent coder",
        "kind": 1,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(t),
        "attributes": [
            attr("gen_ai.operation.name", "invoke_agent"),
            attr("gen_ai.agent.name", "coder"),
            attr("gen_ai.conversation.id", conv),
        ],
        "status": {},
    }
    spans.append((t, root))
    return spans


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("spans", type=int)
    parser.add_argument("--jsonl", action="store_true")
    parser.add_argument("--concurrent", type=int, default=16)
    args = parser.parse_args()
    rng = random.Random(7)
    conversations = max(1, args.spans // SPANS_PER_CONVERSATION)
    # Conversations start in waves of `concurrent`, so that many are open at
    # any time and their spans interleave in end-time order.
    timed = []
    base = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
    for number in range(conversations):
        wave, slot = divmod(number, args.concurrent)
        start = base + wave * 60_000_000_000 + slot * 500_000_000
        timed.extend(conversation(rng, number, start))
    timed.sort(key=lambda pair: pair[0])
    spans = [span for _, span in timed]
    resource = {
        "attributes": [
            attr("service.name", "coder-agent"),
            attr("telemetry.sdk.language", "python"),
        ]
    }
    scope = {"name": "opentelemetry.instrumentation.genai", "version": "0.1"}

    def request(chunk):
        return {
            "resourceSpans": [
                {
                    "resource": resource,
                    "scopeSpans": [{"scope": scope, "spans": chunk}],
                }
            ]
        }

    with open(args.out, "w", encoding="utf-8") as out:
        if args.jsonl:
            for i in range(0, len(spans), 1000):
                out.write(json.dumps(request(spans[i : i + 1000]), separators=(",", ":")))
                out.write("\n")
        else:
            json.dump(request(spans), out, separators=(",", ":"))


if __name__ == "__main__":
    main()
