#!/usr/bin/env bash
# The protocol's own cost on this machine (protocol v2, item 4): `check-adapter` on the C SDK's
# example adapter and on the Swift reference adapter, three runs each, printing the figures each
# run measured. Overhead: a 1x1x1 case's whole `run` (files written, request, reply, output read)
# less the device's time, median of 500. Throughput: 64 MiB through the scratch files beyond the
# device's time, with the files reused (median of 4) and the first time. Release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release >/dev/null
for adapter in systolic-bench-example-c-adapter systolic-bench-reference-adapter; do
    echo "== $adapter"
    for run in 1 2 3; do
        .build/release/systolic-bench check-adapter --round-trips 500 --device "process:.build/release/$adapter" \
            | grep -E "message round trip|protocol overhead|tensor throughput" | sed "s/^/run $run: /"
    done
done
