#!/usr/bin/env python3
"""Peak host memory of single cases against what the loader counts for them (Workload.hostBytes,
docs/suites.md "Host memory"): each case runs alone in a fresh `systolic-bench run` on the
in-process emulator; its peak resident set (wait4's ru_maxrss) less that of a run of a tiny case
is compared with the count, read from the skip reason of a run with --max-case-memory 1. Exit 1
when a peak exceeds 1.5x its count.

Usage: scripts/case-memory.py [--largest | --only-largest]
(--largest adds the largest legal GEMM, counted 16 GiB: it needs about 17 GiB of memory)"""
import json, os, re, sys, tempfile

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "release", "systolic-bench")
CASES = [
    {"op": "gemm", "shape": {"m": 1, "n": 8192, "k": 8192}, "types": "fp32"},
    {"op": "gemm", "shape": {"m": 1, "n": 8192, "k": 8192}, "types": "bf16"},
    {"op": "gemm", "shape": {"m": 1, "n": 8192, "k": 8192}, "types": "fp8_e4m3"},
    {"op": "gemm", "shape": {"m": 2048, "n": 2048, "k": 2048}, "types": "fp8_e4m3"},
    {"op": "gemm", "shape": {"m": 8192, "n": 8192, "k": 64}, "types": "bf16"},
    {"op": "gemm", "shape": {"batch": 8, "m": 512, "n": 1024, "k": 4096}, "types": "int8"},
    {"op": "gemm", "shape": {"m": 1, "n": 8192, "k": 8192}, "types": "int8"},
    {"op": "attention", "shape": {"batch": 1, "heads": 32, "kv_heads": 32, "head_dim": 128, "q_len": 1, "kv_len": 65536}, "types": "bf16"},
    {"op": "attention", "shape": {"batch": 1, "heads": 8, "kv_heads": 8, "head_dim": 128, "q_len": 4096, "kv_len": 4096}, "types": "bf16", "causal": True},
    {"op": "collective", "collective": "all_reduce", "ranks": 8, "bytes": 67108864, "type": "fp32", "reduction": "sum"},
]
# The largest legal case by its count: B at the 2^31-element limit, fp32 (8 bytes counted each).
LARGEST = {"op": "gemm", "shape": {"m": 1, "n": 46336, "k": 46336}, "types": "fp32"}


def run(case, *extra):
    d = tempfile.mkdtemp()
    suite = {"format": "systolic-bench.suite/1", "name": "memory", "version": "1", "profiles": {"quick": "one case"},
             "cases": [dict(case, name="c", profiles=["quick"])]}
    path = os.path.join(d, "s.json")
    json.dump(suite, open(path, "w"))
    out = os.path.join(d, "r.json")
    with open(os.devnull, "w") as null:
        pid = os.fork()
        if pid == 0:
            os.dup2(null.fileno(), 1)
            os.execv(BENCH, [BENCH, "run", path, "--out", out, *extra])
    _, _, usage = os.wait4(pid, 0)
    result = json.load(open(out))["cases"][0]
    return usage.ru_maxrss * 1024, result


def main():
    cases = [LARGEST] if "--only-largest" in sys.argv else CASES + ([LARGEST] if "--largest" in sys.argv else [])
    base, _ = run({"op": "gemm", "shape": {"m": 4, "n": 64, "k": 64}, "types": "fp32"})
    print(f"harness alone (a 4x64x64 case): {base / 2**20:.0f} MiB peak")
    print(f"{'counted MiB':>12} {'peak MiB':>9} {'ratio':>6}  verdict  case")
    worst = 0.0
    for case in cases:
        _, skipped = run(case, "--max-case-memory", "1")
        counted = int(re.search(r"holds (\d+) bytes", skipped["reason"]).group(1))
        peak, result = run(case)
        ratio = (peak - base) / counted
        worst = max(worst, ratio)
        print(f"{counted / 2**20:12.0f} {(peak - base) / 2**20:9.0f} {ratio:6.2f}  {result['verdict']:7}  {result['id']}")
    print(f"largest peak / count: {worst:.2f} (limit 1.5)")
    sys.exit(1 if worst > 1.5 else 0)


main()
