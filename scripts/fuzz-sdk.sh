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
# An attention request over real files (a paged bf16 cache of 3 pages of 2 positions, one
# sequence of 3 positions on pages 2 and 0), so mutations reach the length and page-table checks.
head -c 16 /dev/zero > "$work/q"
head -c 48 /dev/zero > "$work/k"
head -c 48 /dev/zero > "$work/v"
printf '\003\000\000\000' > "$work/kv_lens"
printf '\002\000\000\000\000\000\000\000' > "$work/page_table"
printf '%s' '{"type": "run", "id": "a", "op": "attention", "attention": {"batch": 1, "heads": 2, "kv_heads": 1, "head_dim": 4, "q_len": 1, "kv_lens": [3], "causal": true, "scale": 0.5, "input": "bf16", "kv": "bf16", "accumulate": "fp32", "p": "bf16", "output": "bf16", "k_scale": 1, "v_scale": 1, "kv_layout": "paged", "page_size": 2, "overflow": "saturate"}, "inputs": {"q": {"path": "'"$work"'/q", "type": "bf16", "shape": [1, 2, 1, 4]}, "k": {"path": "'"$work"'/k", "type": "bf16", "shape": [3, 2, 1, 4]}, "v": {"path": "'"$work"'/v", "type": "bf16", "shape": [3, 2, 1, 4]}, "kv_lens": {"path": "'"$work"'/kv_lens", "type": "int32", "shape": [1]}, "page_table": {"path": "'"$work"'/page_table", "type": "int32", "shape": [1, 2]}}, "outputs": {"o": {"path": "'"$work"'/o", "type": "bf16", "shape": [1, 2, 1, 4]}}, "timing": {"warmup": 0, "min_repeats": 1, "min_seconds": 0}}' > "$work/corpus/attention"
# A protocol-2 GEMM over real files: grouped (2 experts of 1 and 1 rows), with a bias, C's initial
# rows at ldc 3 and per-channel fixed-point requantisation, so mutations reach every v2 check.
head -c 8 /dev/zero > "$work/ga"
head -c 16 /dev/zero > "$work/gb"
printf '\001\000\000\000\001\000\000\000' > "$work/sizes"
head -c 6 /dev/zero > "$work/cinit"
head -c 8 /dev/zero > "$work/bias"
head -c 8 /dev/zero > "$work/scale"
printf '%s' '{"type": "hello", "protocol": 1, "protocols": [1, 2], "harness": "fuzz"}' > "$work/corpus/hello2"
printf '%s' '{"type": "run", "id": "g", "op": "gemm", "gemm": {"m": 2, "n": 2, "k": 4, "batch": 1, "a": "int8", "b": "int8", "accumulate": "int32", "output": "int8", "layout_b": "kn", "overflow": "saturate", "ldc": 3, "bias": true, "groups": 2, "requantization": {"scheme": "fixed_point", "per_channel": true}}, "inputs": {"a": {"path": "'"$work"'/ga", "type": "int8", "shape": [1, 2, 4]}, "b": {"path": "'"$work"'/gb", "type": "int8", "shape": [2, 4, 2]}, "group_sizes": {"path": "'"$work"'/sizes", "type": "int32", "shape": [2]}, "c": {"path": "'"$work"'/cinit", "type": "int8", "shape": [1, 2, 3]}, "bias": {"path": "'"$work"'/bias", "type": "int32", "shape": [2]}, "scale": {"path": "'"$work"'/scale", "type": "fp32", "shape": [2]}, "zero_point": {"path": "'"$work"'/bias", "type": "int32", "shape": [2]}, "multiplier": {"path": "'"$work"'/bias", "type": "int32", "shape": [2]}, "shift": {"path": "'"$work"'/bias", "type": "int32", "shape": [2]}}, "outputs": {"c": {"path": "'"$work"'/gc", "type": "int8", "shape": [1, 2, 3]}}, "timing": {"warmup": 0, "min_repeats": 1, "min_seconds": 0}}' > "$work/corpus/gemm2"
head -c 64 /dev/zero > "$work/in"
printf '%s' '{"type": "run", "id": "c", "op": "collective", "collective": {"collective": "reduce_scatter", "ranks": 4, "bytes": 16, "type": "fp32", "reduction": "sum", "in_place": false, "root": 0, "timing_only": false}, "inputs": {"in": {"path": "'"$work"'/in", "type": "fp32", "shape": [4, 4]}}, "outputs": {"out": {"path": "'"$work"'/out", "type": "fp32", "shape": [4, 1]}}, "timing": {"warmup": 0, "min_repeats": 1, "min_seconds": 0}}' > "$work/corpus/collective"
# The fuzzer runs inside the scratch directory: a mutated output path that turns relative writes
# its file there, not into the checkout (as once happened: four 16-byte files in the repository).
(cd "$work" && ./fuzz -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "$work/corpus" 2>&1) | grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|ERROR|SUMMARY|Done" || true
test "${PIPESTATUS[0]}" = 0
