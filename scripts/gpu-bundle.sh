#!/usr/bin/env bash
# Builds what a GPU machine without Swift needs to judge its GPU through the PyTorch and JAX
# adapters (issue: real devices): systolic-bench with the Swift runtime linked in statically and
# stripped, into .build-static/bundle/ beside nothing else (the suites and adapters come with the
# working tree). On the GPU machine, from the repository root: scripts/gpu-run.sh OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib --product systolic-bench --build-path .build-static
mkdir -p .build-static/bundle
cp .build-static/release/systolic-bench .build-static/bundle/systolic-bench
strip .build-static/bundle/systolic-bench
ls -l .build-static/bundle/systolic-bench
ldd .build-static/bundle/systolic-bench || true
