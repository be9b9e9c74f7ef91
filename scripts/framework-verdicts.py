#!/usr/bin/env python3
"""The verdicts of real frameworks on the quick profiles, as a table, held to what is expected.

    scripts/framework-verdicts.py EXPECTED.json|none NAME=RESULTS.json... [--markdown OUT.md]

Each RESULTS file is a `systolic-bench run` through an adapter (adapters/python). EXPECTED maps
each adapter NAME to the cases that do not pass, with their verdict and the reason it is
expected (adapters/python/expected-verdicts.json): a case that fails or errors without being
listed, or a listed case whose verdict changed, exits 1, so a regression in the kit, the
adapters or the harness's rule shows in CI, and so does a framework update that fixes a listed
difference. Cases not sent (`not_supported`) are counted in the table with their reasons.
Exit 0 when every verdict is as expected, 1 when one is not, 2 when an argument or a results file
cannot be read.
"""
import argparse
import collections
import json
import sys

parser = argparse.ArgumentParser()
parser.add_argument("expected")
parser.add_argument("runs", nargs="+", help="NAME=RESULTS.json")
parser.add_argument("--markdown")
args = parser.parse_args()
expected = {} if args.expected == "none" else json.load(open(args.expected))  # none: every non-pass is listed
problems, lines = [], []
lines.append("| adapter | suite | pass | fail | not_supported | error |")
lines.append("|---|---|---|---|---|---|")
notes = []
for run in args.runs:
    if "=" not in run:
        parser.error(f"{run!r}: expected NAME=RESULTS.json")
    name, path = run.split("=", 1)
    try:
        results = json.load(open(path))
    except (OSError, ValueError) as e:
        print(f"{path}: cannot read the results: {e}", file=sys.stderr)
        sys.exit(2)
    listed = expected.get(name, {})
    by_suite = collections.defaultdict(collections.Counter)
    for case in results["cases"]:
        case_id, verdict = case["id"], case["verdict"]
        suite = case_id.split("/", 1)[0]
        by_suite[suite][verdict] += 1
        want = listed.get(case_id, {}).get("verdict", "pass" if verdict != "not_supported" else "not_supported")
        if verdict != want:
            problems.append(f"{name}: {case_id}: {verdict}, expected {want} ({case.get('reason', '')[:300]})")
        if verdict in ("fail", "error"):
            notes.append(f"- **{name}**, `{case_id}`: {verdict}: {listed.get(case_id, {}).get('why', 'not expected')}")
    missing = set(listed) - {c["id"] for c in results["cases"]}
    problems += [f"{name}: {m}: listed in {args.expected} but not run" for m in sorted(missing)]
    for suite, counts in sorted(by_suite.items()):
        lines.append(f"| {name} | {suite} | {counts['pass']} | {counts['fail']} | {counts['not_supported']} | {counts['error']} |")
table = "\n".join(lines + [""] + notes) + "\n"
print(table)
if args.markdown:
    open(args.markdown, "w").write(table)
for p in problems:
    print("unexpected verdict:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
