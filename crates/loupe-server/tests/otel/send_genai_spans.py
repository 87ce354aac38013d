"""Sends nested GenAI spans to an OTLP/HTTP endpoint with the real
OpenTelemetry Python SDK, as an instrumented agent would.

Two conversations follow the OpenTelemetry GenAI semantic conventions:
``invoke_agent`` -> ``chat`` -> ``execute_tool``, every span carrying
``gen_ai.conversation.id``. ``conv-<prefix>-alpha`` succeeds;
``conv-<prefix>-beta`` has a tool that fails (span status ERROR), nested
under the chat that called it.

Endpoint, protocol and compression come from the standard
``OTEL_EXPORTER_OTLP_*`` environment variables. ``--json`` sends OTLP/JSON
instead (the Python exporter only speaks protobuf over HTTP): the SDK's own
encoder builds the request, which is posted as JSON with hex ids per the
OTLP specification.

Exits non-zero when any export failed, so the calling test sees it.
"""

import argparse
import base64
import json
import os
import sys
import time
import urllib.request

from google.protobuf.json_format import MessageToDict
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind, Status, StatusCode


# alpha: agent, 2 chats, 2 tools; beta: agent, 2 chats, 1 tool.
SPANS_SENT = 9


class JsonExporter(SpanExporter):
    """OTLP/HTTP with a JSON body, built from the SDK's protobuf encoder."""

    def __init__(self, endpoint):
        self.url = endpoint.rstrip("/") + "/v1/traces"

    def export(self, spans):
        body = MessageToDict(encode_spans(spans))
        for resource_spans in body.get("resourceSpans", []):
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    # MessageToDict writes bytes as base64; OTLP/JSON wants hex.
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = _b64_to_hex(span[key])
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            ok = response.status == 200
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self):
        pass


def _b64_to_hex(text):
    return base64.b64decode(text).hex()


class Checked(SpanExporter):
    """Remembers whether every export succeeded (the batch processor only logs)."""

    def __init__(self, inner):
        self.inner = inner
        self.exported = 0
        self.failures = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result == SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def chat(tracer, conversation, model, input_tokens, output_tokens, cache_read):
    span = tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT)
    span.set_attribute("gen_ai.operation.name", "chat")
    span.set_attribute("gen_ai.provider.name", "openai")
    span.set_attribute("gen_ai.conversation.id", conversation)
    span.set_attribute("gen_ai.request.model", model)
    span.set_attribute("gen_ai.response.model", model)
    span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
    if cache_read:
        span.set_attribute("gen_ai.usage.cache_read.input_tokens", cache_read)
    span.set_attribute("gen_ai.response.finish_reasons", ["tool_calls"])
    return span


def tool(tracer, conversation, name, call_id, error=None):
    with tracer.start_as_current_span(f"execute_tool {name}", kind=SpanKind.INTERNAL) as span:
        span.set_attribute("gen_ai.operation.name", "execute_tool")
        span.set_attribute("gen_ai.conversation.id", conversation)
        span.set_attribute("gen_ai.tool.name", name)
        span.set_attribute("gen_ai.tool.call.id", call_id)
        span.set_attribute("gen_ai.tool.type", "function")
        time.sleep(0.002)
        if error:
            span.set_attribute("error.type", "ConnectionError")
            span.set_status(Status(StatusCode.ERROR, error))


def agent(tracer, conversation):
    span = tracer.start_span("invoke_agent support-bot", kind=SpanKind.INTERNAL)
    span.set_attribute("gen_ai.operation.name", "invoke_agent")
    span.set_attribute("gen_ai.agent.name", "support-bot")
    span.set_attribute("gen_ai.agent.id", "agent-7")
    span.set_attribute("gen_ai.conversation.id", conversation)
    return span


def alpha(tracer, conversation):
    """Two chats, two successful tools, all children of the agent span."""
    root = agent(tracer, conversation)
    with trace.use_span(root, end_on_exit=True):
        with trace.use_span(chat(tracer, conversation, "gpt-4o", 1200, 80, 1000), end_on_exit=True):
            time.sleep(0.002)
        tool(tracer, conversation, "read_file", "call_alpha_1")
        with trace.use_span(chat(tracer, conversation, "gpt-4o", 1500, 200, 1200), end_on_exit=True):
            time.sleep(0.002)
        tool(tracer, conversation, "run_tests", "call_alpha_2")


def beta(tracer, conversation):
    """A chat whose tool call (nested under it) fails, then a closing chat."""
    root = agent(tracer, conversation)
    with trace.use_span(root, end_on_exit=True):
        with trace.use_span(chat(tracer, conversation, "gpt-4o-mini", 900, 60, 0), end_on_exit=True):
            tool(tracer, conversation, "fetch_url", "call_beta_1", error="connection refused")
        with trace.use_span(chat(tracer, conversation, "gpt-4o-mini", 1000, 40, 0), end_on_exit=True):
            time.sleep(0.002)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", required=True, help="conversation id prefix")
    parser.add_argument("--json", action="store_true", help="send OTLP/JSON")
    args = parser.parse_args()

    if args.json:
        inner = JsonExporter(os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"])
    else:
        # Endpoint, protocol and compression from OTEL_EXPORTER_OTLP_* as any SDK user would.
        inner = OTLPSpanExporter()
    exporter = Checked(inner)
    provider = TracerProvider(resource=Resource.create({"service.name": "loupe-otel-client-test"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    tracer = provider.get_tracer("loupe.test.genai")

    alpha(tracer, f"conv-{args.prefix}-alpha")
    beta(tracer, f"conv-{args.prefix}-beta")

    if not provider.force_flush(10_000):
        print("force_flush timed out", file=sys.stderr)
        sys.exit(2)
    provider.shutdown()
    print(json.dumps({"exported": exporter.exported, "failures": exporter.failures}))
    if exporter.failures or exporter.exported != SPANS_SENT:
        sys.exit(1)


if __name__ == "__main__":
    main()
