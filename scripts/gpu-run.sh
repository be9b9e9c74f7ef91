#!/usr/bin/env bash
# On a GPU machine with Python, PyTorch and JAX but no Swift: the conformance kit, the
# fingerprint, and the quick and full profiles of every suite through the PyTorch adapter on CUDA
# (and the quick profiles through JAX on the backend it finds), with the binary from
# scripts/gpu-bundle.sh. Results, logs and a verdict table go to OUT_DIR.
#   scripts/gpu-run.sh OUT_DIR [BENCH]   (BENCH default .build-static/bundle/systolic-bench)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/gpu-run.sh OUT_DIR [BENCH]}
bench=${2:-.build-static/bundle/systolic-bench}
mkdir -p "$out"
if [ ! -x "$bench" ] && [ -f "$bench.gz" ]; then
    bench_dir=$(mktemp -d)
    gunzip -c "$bench.gz" > "$bench_dir/systolic-bench" && chmod +x "$bench_dir/systolic-bench"
    bench="$bench_dir/systolic-bench"
fi
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
python3 -c "import torch, jax; print('torch', torch.__version__, torch.cuda.get_device_name()); print('jax', jax.__version__, jax.devices())" \
    > "$out/versions.txt" 2>&1
torch_device="process:adapters/python/torch_adapter.py --device cuda"
"$bench" check-adapter --device "$torch_device" > "$out/check-adapter-torch.txt" 2>&1
"$bench" fingerprint --device "$torch_device" --out "$out/fingerprint-torch.json" > "$out/fingerprint-torch.txt" 2>&1
"$bench" fingerprint --device "process:adapters/python/jax_adapter.py" --out "$out/fingerprint-jax.json" > "$out/fingerprint-jax.txt" 2>&1
"$bench" run Suites/gemm.json Suites/attention.json Suites/networking.json --device "$torch_device" \
    --out "$out/torch-quick.json" > "$out/torch-quick.txt" 2>&1
"$bench" run Suites/gemm.json Suites/attention.json --profile full --device "$torch_device" \
    --out "$out/torch-full.json" > "$out/torch-full.txt" 2>&1
"$bench" run Suites/gemm.json Suites/attention.json --device "process:adapters/python/jax_adapter.py" \
    --out "$out/jax-quick.json" > "$out/jax-quick.txt" 2>&1
python3 scripts/framework-verdicts.py none torch-cuda="$out/torch-quick.json" torch-cuda-full="$out/torch-full.json" \
    jax-gpu="$out/jax-quick.json" --markdown "$out/verdicts.md" || true
tail -n 3 "$out"/*.txt
