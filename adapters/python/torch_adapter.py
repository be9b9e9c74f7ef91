#!/usr/bin/env python3
"""PyTorch as a SystolicBench device (CPU, or CUDA with `--device cuda`), on the Python kit.

GEMMs use PyTorch's own kernels: `torch.matmul` on the inputs' dtype where the case's output is
that dtype and there is no epilogue (torch returns a bf16 or fp16 product rounded once from its
accumulator), else `torch.matmul` of the inputs widened to float32 (exact) with the epilogue in
float32 (torch has no fp32-output bf16 matmul on a CPU: `torch.mm(out_dtype=)` is CUDA-only);
fp8 through `torch._scaled_mm` (out_dtype float32, unit scales), int8 through `torch._int_mm`
(int32). Attention is `torch.nn.functional.scaled_dot_product_attention` with the visibility mask
as a boolean `attn_mask` and `enable_gqa`; an fp8 cache is widened to the query's dtype (exact);
fully masked rows are set to zero (SDPA gives NaN there); a case whose P type is fp32 runs SDPA on
inputs widened to float32, since SDPA rounds P to the inputs' dtype. Collectives run over a pool of worker
processes started before the handshake (`--ranks`, default 16), one rank each, with
`torch.distributed` on gloo (NCCL with `--device cuda`, one GPU per rank; not yet run on a GPU): `all_reduce`, `all_gather`, `all_to_all_single`,
`broadcast`, `isend`/`irecv` to the next rank; reduce-scatter as the all-reduce then each rank's
slice (gloo has no reduce_scatter). Timing by the host's clock; a collective's repetition is the
slowest rank's.

Declared arithmetic, and how it was determined: products exact and sums in fp32 (oneDNN and the
ATen CPU kernels accumulate in fp32; the fingerprint measures it, docs/fingerprint.md), subnormals
kept (measured: a dot of 1e-20·1e-20 gives 4e-40), exp within 2 ulps of fp32 (measured under
1 ulp over 2·10⁶ points of [−87, 88]).

    systolic-bench run --device "process:adapters/python/torch_adapter.py"
"""

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from systolic_adapter import (TYPES, Adapter, attention_operands, Description, expanded_block_scales,  # noqa: E402
                              features_except, gemm_operands, gemm_output, largest_finite, NotSupported, Reply,
                              serve, time_repeats)

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "fp8_e4m3": torch.float8_e4m3fn,
          "fp8_e5m2": torch.float8_e5m2, "int8": torch.int8, "int32": torch.int32}
# numpy views torch can wrap (torch has no uint32 or uint16 arithmetic), then reinterpreted.
CARRIERS = {"fp32": (np.int32, torch.int32), "fp16": (np.int16, torch.int16), "bf16": (np.int16, torch.int16),
            "fp8_e4m3": (np.uint8, torch.uint8), "fp8_e5m2": (np.uint8, torch.uint8), "int8": (np.int8, torch.int8),
            "int32": (np.int32, torch.int32)}
GEMM_TYPES = ["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8"]
ATTENTION_TYPES = ["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2"]
COLLECTIVE_TYPES = ["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int32"]


def to_torch(bits, name, device="cpu"):
    carrier, _ = CARRIERS[name]
    t = torch.from_numpy(np.ascontiguousarray(bits).view(carrier).copy())
    return t.view(DTYPES[name]).to(device)


def to_bits(tensor, name):
    _, carrier = CARRIERS[name]
    return tensor.detach().contiguous().cpu().view(carrier).numpy().view(TYPES[name].raw)


def convert(y, name, overflow):
    """The output conversion: nearest-even by `.to`, clipped first in saturate mode (integers always:
    the suites require saturation)."""
    if name in ("int8", "int32"):
        info = torch.iinfo(DTYPES[name])
        return y.clamp(info.min, info.max).to(DTYPES[name])
    if overflow == "saturate":
        top = largest_finite(name)
        y = y.clamp(-top, top)
    return y.to(DTYPES[name])


def synchronize(result):
    if torch.cuda.is_available() and getattr(result, "is_cuda", False):
        torch.cuda.synchronize()
    return result


# ------------------------------------------------------------------------------------ collectives

REDUCE = {"sum": "SUM", "max": "MAX", "min": "MIN"}


def _rank_loop(rank, world, init_file, backend, conn):
    """One rank of the pool: joins the process group, then runs each collective it is sent."""
    device = "cpu"
    if backend == "nccl":  # one GPU per rank (NCCL refuses two ranks on one GPU)
        torch.cuda.set_device(rank)
        device = "cuda"
    dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    groups = {}
    while True:
        message = conn.recv()
        if message is None:
            break
        spec, row, timing = message
        n = spec["ranks"]
        if n not in groups:  # every rank of the world takes part in making a group
            groups[n] = dist.new_group(list(range(n)))
        if rank >= n:
            conn.send(None)
            continue
        try:
            conn.send(_run_collective(rank, n, groups[n], spec, row, timing, device))
        except Exception as e:  # noqa: BLE001 - reported to the adapter as the case's error
            conn.send(f"rank {rank}: {type(e).__name__}: {e}")


def _run_collective(rank, n, group, spec, row, timing, device):
    kind, name = spec["collective"], spec["type"]
    moving = kind in ("all_gather", "all_to_all", "broadcast", "send_recv")
    # Data that only moves travels as its bytes (gloo reduces no fp8); reductions in the type itself.
    if moving:
        base = torch.from_numpy(np.ascontiguousarray(row).view(np.uint8).copy())
    else:
        base = to_torch(row, name)
    base = base.to(device)
    op = getattr(dist.ReduceOp, REDUCE.get(spec["reduction"], "SUM"))

    def once():
        t = base.clone()
        if kind == "all_reduce":
            dist.all_reduce(t, op=op, group=group)
            return t
        if kind == "reduce_scatter":
            dist.all_reduce(t, op=op, group=group)
            chunk = t.numel() // n
            return t[rank * chunk:(rank + 1) * chunk]
        if kind == "all_gather":
            parts = [torch.empty_like(t) for _ in range(n)]
            dist.all_gather(parts, t, group=group)
            return torch.cat(parts)
        if kind == "all_to_all":
            out = torch.empty_like(t)
            dist.all_to_all_single(out, t, group=group)
            return out
        if kind == "broadcast":
            dist.broadcast(t, src=spec["root"], group=group)
            return t
        if kind == "send_recv":
            out = torch.empty_like(t)
            requests = [dist.isend(t, (rank + 1) % n, group=group), dist.irecv(out, (rank - 1) % n, group=group)]
            for r in requests:
                r.wait()
            return out
        raise NotSupported(f"collective {kind!r}")

    for _ in range(max(timing["warmup"], 0)):
        once()
    samples, total, out = [], 0.0, None
    while len(samples) < max(timing["min_repeats"], 1) or total < timing["min_seconds"]:
        dist.barrier(group=group)
        start = time.perf_counter()
        out = synchronize(once())
        seconds = time.perf_counter() - start
        samples.append(seconds)
        total += seconds
    bits = out.cpu().numpy().view(np.uint8) if moving else to_bits(out, name)
    return bits, samples


class TorchDevice(Adapter):
    def __init__(self, device, ranks):
        self.device = device
        self.ranks = ranks
        self.pool = []
        if device == "cuda" and ranks > torch.cuda.device_count():
            raise SystemExit(f"torch_adapter: {ranks} ranks but {torch.cuda.device_count()} GPUs (NCCL takes one GPU per rank)")
        if ranks > 1:
            # CPU: fork, before any torch thread exists (no re-import). CUDA: spawn, since a forked
            # child cannot initialise CUDA; each rank then holds one GPU and talks NCCL.
            context = multiprocessing.get_context("spawn" if device == "cuda" else "fork")
            # The rendezvous file in a directory of our own (mkdtemp: no name another process can
            # take first), removed at shutdown.
            self.init_dir = tempfile.mkdtemp(prefix="systolic-torch-dist-")
            self.init_file = os.path.join(self.init_dir, "rendezvous")
            backend = "nccl" if device == "cuda" else "gloo"
            for rank in range(ranks):
                parent, child = context.Pipe()
                process = context.Process(target=_rank_loop, args=(rank, ranks, self.init_file, backend, child), daemon=True)
                process.start()
                self.pool.append((process, parent))

    def close(self):
        for process, conn in self.pool:
            try:
                conn.send(None)
            except OSError:
                pass
        for process, _ in self.pool:
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
        if self.pool:
            shutil.rmtree(self.init_dir, ignore_errors=True)

    def describe(self):
        product = torch.cuda.get_device_name() if self.device == "cuda" else "CPU (ATen, oneDNN)"
        return Description(
            device={"name": f"torch-{self.device}", "vendor": "PyTorch", "product": product,
                    "driver_version": f"torch {torch.__version__}", "kind": "hardware",
                    "arithmetic": {"accumulator": "fp32", "subnormals": "preserve", "overflow_modes": ["saturate", "ieee"],
                                   "input_types": COLLECTIVE_TYPES, "exp_ulps": 2,
                                   "input_types_by_op": {"gemm": GEMM_TYPES, "attention": ATTENTION_TYPES,
                                                         "collective": COLLECTIVE_TYPES}},
                    "ops": ["gemm", "attention"] + (["collective"] if self.pool else []),
                    "peak_ops_per_second": {}},  # no published peak, so no utilisation figures
            # Requantisation (int32 to int8 with scales and zero points) has no framework op.
            features=features_except("requantization", "block_formats", "quantizes_a", "int4_weights"))

    # ---------------------------------------------------------------------------------- GEMM
    def gemm(self, request):
        g = request.spec
        ops = gemm_operands(request)
        dev = self.device
        a, b = to_torch(ops.a, g.a, dev), to_torch(ops.b, g.b, dev)
        epilogue = bool(set(g.features()) - {"leading_dimensions", "groups"})
        native = g.a == g.b == g.output and g.a in ("fp16", "bf16", "fp32") and not epilogue
        integer = g.a == "int8"
        fp8 = g.a.startswith("fp8")
        one = torch.ones((), dtype=torch.float32, device=dev)

        def matmul(x, w):
            """x [M, K] or [batch, M, K] times w [K, N]: torch's own kernel for the types."""
            if x.ndim == 3:
                if w.ndim == 2:
                    return matmul(x.reshape(-1, x.shape[-1]), w).reshape(x.shape[0], x.shape[1], -1)
                return torch.stack([matmul(x[i], w[i]) for i in range(x.shape[0])])
            if integer:
                try:
                    return torch._int_mm(x, w)
                except RuntimeError:  # shape limits of the int8 kernel: exact in int32 anyway
                    return x.to(torch.int32) @ w.to(torch.int32)
            if fp8:
                return torch._scaled_mm(x, w.t().contiguous().t(), scale_a=one, scale_b=one, out_dtype=torch.float32)
            if native:
                return x @ w
            return x.to(torch.float32) @ w.to(torch.float32)

        scales = expanded_block_scales(request, ops)
        if scales:
            scales = (torch.from_numpy(scales[0]).to(dev), torch.from_numpy(scales[1]).to(dev), scales[2])

        def product(x, w, sa=None, sb=None):
            if sa is None:
                return matmul(x, w)
            group, acc = scales[2], None
            for k0 in range(0, g.k, group):
                j = k0 // group
                part = matmul(x[..., k0:k0 + group].contiguous(), w[..., k0:k0 + group, :].contiguous())
                s = sa[..., j:j + 1] * sb[..., j:j + 1, :]
                acc = part * s if acc is None else acc + part * s
            return acc

        c = to_torch(ops.c, g.accumulate_c, dev).to(torch.float32) if ops.c is not None else None
        bias = to_torch(ops.bias, "int32" if integer else "fp32", dev) if ops.bias is not None else None
        factor = None
        if g.scale_a is not None or g.scale_b is not None or g.scale_output is not None:
            factor = float(np.float32((g.scale_a or 1) * (g.scale_b or 1) / (g.scale_output or 1)))

        def run():
            sa, sb = (scales[0], scales[1]) if scales else (None, None)
            if ops.group_sizes is not None:
                pieces, start = [], 0
                for e, rows in enumerate(ops.group_sizes):
                    if rows:
                        pieces.append(product(a[0, start:start + rows], b[e], None if sa is None else sa[0, start:start + rows],
                                              None if sb is None else sb[e]))
                    start += rows
                acc = torch.cat(pieces)[None]
            elif b.shape[0] == 1:
                acc = product(a, b[0], sa, None if sb is None else sb[0])
            else:
                acc = product(a, b, sa, sb)
            if native:
                return acc
            if integer:
                return convert(acc + bias if bias is not None else acc, g.output, g.overflow)
            acc = acc.to(torch.float32)
            if factor is not None:
                acc = acc * factor
            if c is not None:
                acc = acc + c
            if bias is not None:
                acc = acc + bias
            if g.activation == "relu":
                acc = torch.relu(acc)
            elif g.activation in ("gelu_erf", "gelu_tanh"):
                acc = torch.nn.functional.gelu(acc, approximate="tanh" if g.activation == "gelu_tanh" else "none")
            elif g.activation:
                raise NotSupported(f"activation {g.activation!r}")
            return convert(acc, g.output, g.overflow)

        with torch.inference_mode():
            result, samples = time_repeats(run, request.timing, synchronize)
        if native and g.overflow == "saturate" and g.output != "fp32":
            # torch rounds to the output type itself; an overflow there is ±inf, saturated here.
            top = largest_finite(g.output)
            result = torch.where(torch.isinf(result), torch.sign(result) * top, result).to(DTYPES[g.output])
        return Reply({"c": gemm_output(request, ops, to_bits(result, g.output))}, samples)

    # ----------------------------------------------------------------------------- attention
    def attention(self, request):
        s = request.spec
        ops = attention_operands(request)
        dev = self.device
        q = to_torch(ops.q, s.input, dev)
        k, v = to_torch(ops.k, s.kv, dev), to_torch(ops.v, s.kv, dev)
        if k.dtype != q.dtype:
            k, v = k.to(q.dtype), v.to(q.dtype)  # fp8 into bf16 or fp16: exact
        if s.p == "fp32" and q.dtype != torch.float32:
            # SDPA rounds P to the inputs' dtype before P·V (its documented reference computes in
            # the query's dtype); a case asking for P in fp32 gets SDPA on the widened inputs.
            q, k, v = q.to(torch.float32), k.to(torch.float32), v.to(torch.float32)
        visible = torch.from_numpy(ops.visible).to(dev)[:, None]            # [batch, 1, q_len, kv_len]
        any_visible = visible.any(dim=-1, keepdim=True)

        def run():
            o = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=visible, scale=s.scale * s.k_scale,
                                                                 enable_gqa=s.heads != s.kv_heads)
            o = torch.where(any_visible, o.to(torch.float32), 0.0) * float(np.float32(s.v_scale))
            return convert(o, s.output, s.overflow)

        with torch.inference_mode():
            result, samples = time_repeats(run, request.timing, synchronize)
        return Reply({"o": to_bits(result, s.output)}, samples)

    # ---------------------------------------------------------------------------- collectives
    def collective(self, request):
        c = request.spec
        if c.ranks > self.ranks:
            raise NotSupported(f"{c.ranks} ranks, but the pool has {self.ranks}")
        width = TYPES[c.type].width
        count = c.bytes // width
        if c.timing_only:
            per_rank = count // c.ranks if c.collective == "all_gather" else count
            rows = np.zeros((c.ranks, per_rank), TYPES[c.type].raw)
        else:
            rows = request.input("in")
        spec = {"collective": c.collective, "ranks": c.ranks, "type": c.type, "reduction": c.reduction, "root": c.root}
        timing = {"warmup": request.timing.warmup, "min_repeats": request.timing.min_repeats,
                  "min_seconds": request.timing.min_seconds}
        for rank, (_, conn) in enumerate(self.pool):
            conn.send((spec, rows[rank] if rank < c.ranks else None, timing))
        answers = [conn.recv() for _, conn in self.pool]
        failures = [a for a in answers[: c.ranks] if isinstance(a, str)]
        if failures:
            raise RuntimeError("; ".join(failures))
        runs = answers[: c.ranks]
        repeats = min(len(r[1]) for r in runs)
        samples = [max(r[1][i] for r in runs) for i in range(repeats)]
        if c.timing_only:
            return Reply({}, samples)
        out = np.stack([np.ascontiguousarray(r[0]).view(np.uint8) for r in runs]).view(TYPES[c.type].raw)
        return Reply({"out": out.reshape(request.outputs["out"].shape)}, samples)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--ranks", type=int, default=None, help="collective ranks (worker processes); default 16 on a CPU, the GPUs on CUDA")
    args = parser.parse_args()
    ranks = args.ranks if args.ranks is not None else (torch.cuda.device_count() if args.device == "cuda" else 16)
    sys.exit(serve(TorchDevice(args.device, ranks)))
