#!/usr/bin/env bash
# Two harnesses and the process tests running at once, N times (default 20): every case of both
# runs must pass (a harness that lost its scratch directory to another process reports errors),
# the tests must pass, and nothing may be left in /dev/shm or the temporary directory afterwards
# (#28, item 7). Prints one line per round and a summary; exits 1 on any interference or leftover.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
# The tests' build (testable modules) is the one `swift test -c release` makes; the products too.
swift test -c release --filter TransportTests >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
shm_before=$(ls /dev/shm | sort)
tmp_before=$(ls "${TMPDIR:-/tmp}" | grep '^systolic-bench-tests-' | sort || true)
failures=0
for round in $(seq 1 "$rounds"); do
    start=$(date +%s)
    .build/release/systolic-bench run Suites/gemm.json --device "process:.build/release/systolic-bench-reference-adapter" \
        --out "$work/reference-$round.json" >"$work/reference-$round.log" 2>&1 & first=$!
    .build/release/systolic-bench run Suites/attention.json Suites/networking.json --device "process:.build/release/systolic-bench-example-c-adapter" \
        --out "$work/c-$round.json" >"$work/c-$round.log" 2>&1 & second=$!
    tests=0
    swift test -c release --skip-build --filter SystolicProcessTests >"$work/tests-$round.log" 2>&1 || tests=$?
    runs=0
    wait "$first" || runs=$?
    wait "$second" || runs=$((runs + $?))
    verdicts=$(python3 - "$work/reference-$round.json" "$work/c-$round.json" <<'PY'
import json, sys
counts = {}
for path in sys.argv[1:]:
    for c in json.load(open(path))["cases"]:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
print(" ".join(f"{k} {v}" for k, v in sorted(counts.items())))
PY
)
    ok=yes
    if [ "$runs" -ne 0 ] || [ "$tests" -ne 0 ] || [[ "$verdicts" != "pass "* ]] || [[ "$verdicts" == *" "*" "* ]]; then ok=no; failures=$((failures + 1)); fi
    echo "round $round: harnesses exit $runs, verdicts: $verdicts; process tests exit $tests; $(( $(date +%s) - start )) s; ok $ok"
done
shm_after=$(ls /dev/shm | sort)
tmp_after=$(ls "${TMPDIR:-/tmp}" | grep '^systolic-bench-tests-' | sort || true)
# A new entry some process still holds open belongs to a harness running now (not one of ours,
# which have all ended): only what nobody holds was left behind.
held() { find /proc/[0-9]*/fd -lname "$1*" 2>/dev/null | grep -q .; }
left=$(for entry in $(comm -13 <(echo "$shm_before") <(echo "$shm_after")); do
           if held "/dev/shm/$entry"; then echo "(still in use by a running process, not counted: /dev/shm/$entry)" >&2; else echo "/dev/shm/$entry"; fi
       done; comm -13 <(echo "$tmp_before") <(echo "$tmp_after"))
if [ -n "$left" ]; then echo "left behind:"; echo "$left"; failures=$((failures + 1)); else echo "nothing left behind in /dev/shm or ${TMPDIR:-/tmp}"; fi
echo "$rounds rounds, $failures failing"
[ "$failures" -eq 0 ]
