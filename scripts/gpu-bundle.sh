#!/usr/bin/env bash
# Builds what a GPU machine without Swift needs to judge its GPU through the PyTorch and JAX
# adapters (issue: real devices): systolic-bench with the Swift runtime linked in statically and
# stripped and gzipped, into .build-static/bundle/ (the suites and adapters come with the working
# tree). Carry .build-static/bundle/systolic-bench.gz; on the GPU machine, from the repository
# root: scripts/gpu-run.sh OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib --product systolic-bench --build-path .build-static
mkdir -p .build-static/bundle
cp .build-static/release/systolic-bench .build-static/bundle/systolic-bench
strip .build-static/bundle/systolic-bench
# 62 MiB stripped, about 24 MiB gzipped: the device tool carries 64 MiB in all, so the copy that
# travels is the compressed one (gpu-run.sh unpacks it).
gzip -9 -c .build-static/bundle/systolic-bench > .build-static/bundle/systolic-bench.gz
ls -l .build-static/bundle/
ldd .build-static/bundle/systolic-bench || true  # libc, libm, libstdc++ and libgcc_s only
