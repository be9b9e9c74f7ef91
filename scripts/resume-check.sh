#!/usr/bin/env bash
# Kills a run with SIGKILL at three points (a quarter, half and three quarters of its cases),
# resumes it each time with `run --resume`, and compares the final results case by case with an
# uninterrupted run's (scripts/same-results.py: verdicts, digests, every deterministic figure,
# check reports). Usage: scripts/resume-check.sh [PROFILE] [SUITE...]  (default: full, every suite)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-full}; shift || true
suites=("$@"); [ ${#suites[@]} -gt 0 ] || suites=(Suites/*.json)
bench=.build/release/systolic-bench
[ -x "$bench" ] || swift build -c release --product systolic-bench
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$bench" run "${suites[@]}" --profile "$profile" --out "$work/clean.json" > /dev/null
total=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['cases']))" "$work/clean.json")
out="$work/resumed.json"; journal="$out.journal"; resume=()
for quarter in 1 2 3; do
  target=$(( 1 + total * quarter / 4 ))
  "$bench" run "${suites[@]}" --profile "$profile" --out "$out" "${resume[@]}" > /dev/null 2>&1 &
  pid=$!
  while kill -0 $pid 2> /dev/null && [ "$( (wc -l < "$journal") 2> /dev/null || echo 0)" -lt $target ]; do sleep 0.01; done
  if kill -9 $pid 2> /dev/null; then echo "killed with SIGKILL at $(( $(wc -l < "$journal") - 1 )) of $total cases"
  else echo "the run ended before it could be killed at $target" >&2; exit 1; fi
  wait $pid 2> /dev/null || true
  resume=(--resume)
done
"$bench" run "${suites[@]}" --profile "$profile" --out "$out" --resume > /dev/null || [ $? -le 3 ]
python3 scripts/same-results.py "$work/clean.json" "$out"
