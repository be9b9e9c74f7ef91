#!/usr/bin/env bash
# The quick profile of every suite through the Python adapters (adapters/python): numpy's example
# (GEMMs only), JAX on the backend it finds, and PyTorch on the CPU; then the table of verdicts,
# held to adapters/python/expected-verdicts.json (scripts/framework-verdicts.py).
#   scripts/framework-adapters.sh OUT_DIR   (needs .build/release/systolic-bench; jax and torch where installed)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.build/frameworks}
mkdir -p "$out"
bench=.build/release/systolic-bench
runs=()
run() {  # NAME ADAPTER SUITES...
    local name=$1 adapter=$2; shift 2
    local start=$SECONDS
    "$bench" run "$@" --device "process:$adapter" --out "$out/$name.json" > "$out/$name.log" 2>&1 || {
        local status=$?
        # exit 1 is "some case failed": the verdicts are judged below; anything else is a broken run.
        if [ "$status" -ne 1 ]; then cat "$out/$name.log"; echo "$name: run exited $status"; exit "$status"; fi
    }
    echo "$name: $(tail -2 "$out/$name.log" | head -1) in $((SECONDS - start)) s"
    runs+=("$name=$out/$name.json")
}
run numpy adapters/python/example_numpy_adapter.py Suites/gemm.json
if python3 -c "import jax" 2>/dev/null; then
    run jax-cpu adapters/python/jax_adapter.py Suites/gemm.json Suites/attention.json Suites/networking.json
else
    echo "jax is not installed: the JAX adapter is not run"
fi
if python3 -c "import torch" 2>/dev/null; then
    run torch-cpu adapters/python/torch_adapter.py Suites/gemm.json Suites/attention.json Suites/networking.json
else
    echo "torch is not installed: the PyTorch adapter is not run"
fi
python3 scripts/framework-verdicts.py adapters/python/expected-verdicts.json "${runs[@]}" --markdown "$out/verdicts.md"
