#!/usr/bin/env bash
# Compares the emulator and the host reference with numpy's float32 matmul (OpenBLAS, 2 threads)
# in one run on this machine: median of 5 at 1024³ and 2048³. Needs python3 with numpy; the
# product itself never does. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for this command
# alone, since they slow a current numpy down.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product systolic-bench >/dev/null
echo "numpy float32 matmul, OPENBLAS_NUM_THREADS=2:"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 python3 - <<'PY'
import time
import numpy as np
for n in (1024, 2048):
    a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
    a @ b
    times = []
    for _ in range(5):
        t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
    m = sorted(times)[2]
    print(f"{n}x{n}x{n}  median {m:.4f} s  {2 * n**3 / m / 1e9:.1f} GFLOP/s")
PY
.build/release/systolic-bench bench --shapes 1024x1024x1024,2048x2048x2048 --types fp32,bf16 --repeats 5
