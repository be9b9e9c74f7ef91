#!/usr/bin/env bash
# Fuzzes the adapter SDK's request parser with libFuzzer under AddressSanitizer and
# UndefinedBehaviorSanitizer for a bounded time (default 60 s), starting from valid requests.
# Needs clang with libFuzzer (the Swift toolchain's) and libjson-c-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
clang=${CLANG:-$(command -v clang || echo /opt/swift/usr/bin/clang)}
"$clang" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -ISources/SystolicAdapterSDK/include Tests/fuzz/sbsdk_fuzz.c Sources/SystolicAdapterSDK/sbsdk.c \
    $(pkg-config --cflags --libs json-c) -o "$work/fuzz" 2> >(grep -v "Cannot export local symbol" >&2)
mkdir -p "$work/corpus"
printf '%s' '{"type": "hello", "protocol": 1, "harness": "fuzz"}' > "$work/corpus/hello"
printf '%s' '{"type": "shutdown"}' > "$work/corpus/shutdown"
printf '%s' '{"type": "run", "id": "x", "op": "gemm", "gemm": {"m": 1, "n": 1, "k": 1, "batch": 1, "a": "fp32", "b": "fp32", "accumulate": "fp32", "output": "fp32", "layout_b": "kn", "overflow": "saturate"}, "inputs": {"a": {"path": "/nonexistent/a", "type": "fp32", "shape": [1, 1, 1]}, "b": {"path": "/nonexistent/b", "type": "fp32", "shape": [1, 1, 1]}}, "outputs": {"c": {"path": "/nonexistent/c", "type": "fp32", "shape": [1, 1, 1]}}, "timing": {"warmup": 0, "min_repeats": 1, "min_seconds": 0}}' > "$work/corpus/run"
"$work/fuzz" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "$work/corpus" 2>&1 | grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|ERROR|SUMMARY|Done" || true
test "${PIPESTATUS[0]}" = 0
