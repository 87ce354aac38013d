"""Times attocode-py's TraceCollector.record_llm_response (buffer 100) for the
same typical LLM-response event the Rust example records; prints a RESULT line.

Usage: attocode_record.py OUT_DIR [EVENTS]   (see bench/recorder-vs-attocode.sh)
"""
import statistics
import sys
import time

from attocode.tracing.collector import TraceCollector


def main() -> None:
    out_dir = sys.argv[1]
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    collector = TraceCollector(output_dir=out_dir, session_id="latency-attocode", buffer_size=100, flush_on_crash=False)
    collector.start_session(goal="bench", model="claude-sonnet-4-5")
    samples = []
    perf = time.perf_counter_ns
    start = perf()
    for i in range(events):
        t = perf()
        collector.record_llm_response(
            1,
            tokens=12_000 + i % 1000 + 350,
            cost=0.0123,
            duration_ms=2400.0,
            model="claude-sonnet-4-5",
            input_tokens=800 + i % 1000,
            output_tokens=350,
            cache_read_tokens=10_000,
            cache_write_tokens=1_200,
            extra={"provider": "anthropic", "stop_reason": "tool_use", "tool_calls": 2},
        )
        samples.append(perf() - t)
    collector.flush()
    total_s = (perf() - start) / 1e9
    collector.end_session()
    samples.sort()
    n = len(samples)
    q = lambda p: samples[min(int(n * p), n - 1)]
    print(
        f"RESULT attocode median_ns={q(0.5)} p99_ns={q(0.99)} p999_ns={q(0.999)} "
        f"events_per_s={n / total_s:.0f} mean_ns={statistics.fmean(samples):.0f}"
    )


if __name__ == "__main__":
    main()
