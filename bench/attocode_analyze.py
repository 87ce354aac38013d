"""attocode-py 0.2.30's own analysers over every session file of a directory.

Baseline (b) of bench/compare-baselines.sh: for each `*.jsonl` under ROOT it
loads the session with `load_trace_session` and runs
`SessionAnalyzer.summary()`, `TokenAnalyzer.token_flow()` and
`InefficiencyDetector.detect_all()` — the per-session analysis attocode's
dashboard and CLI show. Results are reduced to a few counters so that output
costs nothing; a failing file is counted, not fatal.

Usage: .venv-attocode/bin/python bench/attocode_analyze.py ROOT
"""

import os
import sys

from attocode.tracing.analysis import InefficiencyDetector, SessionAnalyzer, TokenAnalyzer
from attocode.tracing.collector import load_trace_session


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: attocode_analyze.py ROOT")
    sessions = failed = issues = tokens = flow_points = 0
    for dirpath, _dirs, files in os.walk(sys.argv[1]):
        for name in sorted(files):
            if not name.endswith(".jsonl"):
                continue
            try:
                session = load_trace_session(os.path.join(dirpath, name))
                summary = SessionAnalyzer(session).summary()
                flow_points += len(TokenAnalyzer(session).token_flow())
                issues += len(InefficiencyDetector(session).detect_all())
            except Exception as err:  # noqa: BLE001 - a bad file must not stop the run
                failed += 1
                print("%s: %s" % (name, err), file=sys.stderr)
                continue
            tokens += summary.total_tokens
            sessions += 1
    print("sessions=%d failed=%d issues=%d tokens=%d flow_points=%d"
          % (sessions, failed, issues, tokens, flow_points))


if __name__ == "__main__":
    main()
