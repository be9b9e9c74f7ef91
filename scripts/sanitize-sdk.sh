#!/usr/bin/env bash
# Builds the example C adapter with plain cc and pkg-config, as a vendor would, under
# AddressSanitizer and UndefinedBehaviorSanitizer, then runs the adapter conformance kit and every
# suite's quick profile through it. Any sanitizer report fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build/sanitize
mkdir -p "$out"
cc -g -O1 -Wall -Wextra -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -ISources/SystolicAdapterSDK/include Sources/SystolicExampleCAdapter/main.c Sources/SystolicAdapterSDK/sbsdk.c \
    $(pkg-config --cflags --libs json-c) -lm -o "$out/example-adapter"
bin=${SYSTOLIC_BENCH:-.build/release/systolic-bench}
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
"$bin" check-adapter --device "process:$PWD/$out/example-adapter" --round-trips 20
"$bin" run --device "process:$PWD/$out/example-adapter" --repeats 1 --warmup 0 --out "$out/results.json"
echo "sanitizers: clean (check-adapter and the quick profile through the ASan/UBSan build)"
