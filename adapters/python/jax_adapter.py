#!/usr/bin/env python3
"""JAX as a SystolicBench device, on whatever backend JAX finds (CPU, GPU, TPU), on the Python kit.

GEMMs are `jax.lax.dot_general` on the inputs' own dtypes with `preferred_element_type` float32
(int32 for int8), the epilogue in float32 as docs/numerics.md orders it (scales, C, bias,
activation with `jax.nn.relu` / `jax.nn.gelu`), and the output conversion by `astype` (clipped to
the type's largest finite value first in `saturate` mode). Attention is the explicit softmax
(docs/attention.md): S = Q·Kᵀ in float32, the scale, the mask, the row maximum subtracted, exp, P
rounded to the case's P type, O = P·V in float32 divided by the row sum. Collectives run over
`ranks` of JAX's devices with `jax.shard_map`: `psum`/`pmax`/`pmin` (all-reduce), `all_gather`,
`psum_scatter` (reduce-scatter; max and min as the all-reduce then each rank's slice),
`all_to_all`, broadcast as the root's row of an all-gather, and `ppermute` to the next rank
(send/recv). On a CPU, `--devices N` (default 16) makes N virtual host devices
(`--xla_force_host_platform_device_count`), so every collective of the quick profile has its
ranks.

Declared arithmetic, and how it was determined: by the fingerprint (docs/fingerprint.md,
`systolic-bench fingerprint --device process:adapters/python/jax_adapter.py`): on a CPU, XLA's
GEMMs round fp32 sums to nearest-even, flush subnormal results, and read subnormal fp32 and bf16
operands as zero (fp16 and fp8 ones survive, being normal once widened to fp32): `matrix_engine`
says so per input type; its float32 exp is
within 0.99 ulp over 2·10⁶ points of [−87, 88] (declared `exp_ulps: 2`). On another backend the
same declaration is a starting point that the fingerprint confirms or refutes.

    systolic-bench run --device "process:adapters/python/jax_adapter.py"
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--devices", type=int, default=16, help="virtual host devices on a CPU (collective ranks)")
parser.add_argument("--platform", default=None, help="JAX platform to use (cpu, gpu, tpu); default JAX's own choice")
args = parser.parse_args()
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={args.devices}").strip()
if args.platform:
    os.environ["JAX_PLATFORMS"] = args.platform

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, PartitionSpec  # noqa: E402

from systolic_adapter import (TYPES, Adapter, as_ml_dtype, attention_operands, Description, expanded_block_scales,  # noqa: E402
                              features_except, gemm_operands, gemm_output, largest_finite, NotSupported, Reply,
                              serve, time_repeats)

DTYPES = {"fp32": jnp.float32, "fp16": jnp.float16, "bf16": jnp.bfloat16, "fp8_e4m3": jnp.float8_e4m3fn,
          "fp8_e5m2": jnp.float8_e5m2, "int8": jnp.int8, "int32": jnp.int32}
GEMM_TYPES = ["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8"]
ATTENTION_TYPES = ["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2"]
COLLECTIVE_TYPES = ["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int32"]


def _engine(types, subnormal_inputs):
    return {"input_types": types, "accumulate": "fp32", "products": "exact", "block_size": 1,
            "extra_alignment_bits": "exact", "fraction_bits": 23, "block_rounding": "nearest_even",
            "subnormal_inputs": subnormal_inputs, "subnormal_outputs": "flush", "c_position": "last"}


# XLA on a CPU as the fingerprint measured it (docs/fingerprint.md; jax 0.10.2 on x86-64): fp32 sums
# rounded to nearest-even, C added last, subnormal results flushed, and subnormal fp32 and bf16
# operands read as zero (denormals-are-zero); fp16 and fp8 operands are widened to fp32 first,
# where even their subnormals are normal, so those survive.
CPU_ENGINE = [_engine(["fp32", "bf16"], "flush"), _engine(["fp16", "fp8_e4m3", "fp8_e5m2"], "preserve")]


def to_device(bits, name):
    return jnp.asarray(as_ml_dtype(np.ascontiguousarray(bits), name))


def to_bits(array, name):
    return np.asarray(array).view(TYPES[name].raw)


def convert(y, name, overflow):
    """The output conversion: nearest-even by astype, clipped first in saturate mode. Integers are
    always clipped: XLA's integer narrowing (ConvertElementType s32 to s8) wraps modulo 2^8, and the
    suites require saturation (`int8-saturating-output`)."""
    if name in ("int8", "int32"):
        info = jnp.iinfo(DTYPES[name])
        return jnp.clip(y, info.min, info.max).astype(DTYPES[name])
    if name == "fp32" and overflow != "saturate":
        return y.astype(DTYPES[name])
    if overflow == "saturate":
        top = largest_finite(name)
        y = jnp.clip(y, -top, top)
    return y.astype(DTYPES[name])


def dot(x, w, accumulate):
    """x [.., M, K] · w [K, N] or [batch, K, N] (batch matching x's), accumulated in `accumulate`."""
    if w.ndim == 2:
        dims = (((x.ndim - 1,), (0,)), ((), ()))
    else:
        dims = (((2,), (1,)), ((0,), (0,)))
    return jax.lax.dot_general(x, w, dims, preferred_element_type=accumulate)


class JaxDevice(Adapter):
    def __init__(self):
        self.backend = jax.default_backend()
        self.devices = jax.devices()

    def describe(self):
        name = f"jax-{self.backend}"
        kind = self.devices[0].device_kind
        return Description(
            device={"name": name, "vendor": "JAX/XLA", "product": f"{kind} ({len(self.devices)} devices)",
                    "driver_version": f"jax {jax.__version__}", "kind": "hardware",
                    "arithmetic": {"accumulator": "fp32", "subnormals": "flush" if self.backend == "cpu" else "preserve",
                                   "overflow_modes": ["saturate", "ieee"], "input_types": COLLECTIVE_TYPES, "exp_ulps": 2,
                                   "input_types_by_op": {"gemm": GEMM_TYPES, "attention": ATTENTION_TYPES,
                                                         "collective": COLLECTIVE_TYPES},
                                   **({"matrix_engine": CPU_ENGINE} if self.backend == "cpu" else {})},
                    "ops": ["gemm", "attention", "collective"],
                    "peak_ops_per_second": {}},  # no published peak, so no utilisation figures
            # Requantisation (int32 to int8 with scales and zero points) has no framework op.
            features=features_except("requantization", "block_formats", "quantizes_a", "int4_weights"))

    # ---------------------------------------------------------------------------------- GEMM
    def gemm(self, request):
        g = request.spec
        ops = gemm_operands(request)
        integer = g.a == "int8"
        accumulate = jnp.int32 if integer else jnp.float32
        a, b = to_device(ops.a, g.a), to_device(ops.b, g.b)
        extra, group_k = {}, None
        scales = expanded_block_scales(request, ops)
        if scales:
            extra["sa"], extra["sb"], group_k = jnp.asarray(scales[0]), jnp.asarray(scales[1]), scales[2]
        if ops.c is not None:
            extra["c"] = to_device(ops.c, g.accumulate_c)
        if ops.bias is not None:
            extra["bias"] = to_device(ops.bias, "int32" if integer else "fp32")
        factor = None
        if g.scale_a is not None or g.scale_b is not None or g.scale_output is not None:
            factor = np.float32((g.scale_a or 1) * (g.scale_b or 1) / (g.scale_output or 1))
        sizes = ops.group_sizes

        def product(x, w, sa=None, sb=None, group=None):
            if sa is None:
                return dot(x, w, accumulate)
            acc = None
            for k0 in range(0, g.k, group):
                part = dot(x[..., k0:k0 + group], w[..., k0:k0 + group, :], accumulate)
                j = k0 // group
                s = sa[..., j:j + 1] * sb[..., j:j + 1, :]
                acc = part * s if acc is None else acc + part * s
            return acc

        def compute(a, b, extra):
            sa, sb, group = extra.get("sa"), extra.get("sb"), group_k
            if sizes is not None:
                pieces, start = [], 0
                for e, rows in enumerate(sizes):
                    if rows:
                        pieces.append(product(a[0, start:start + rows], b[e],
                                              None if sa is None else sa[0, start:start + rows],
                                              None if sb is None else sb[e], group))
                    start += rows
                acc = jnp.concatenate(pieces, axis=0)[None] if pieces else jnp.zeros((1, 0, g.n), accumulate)
            elif b.shape[0] == 1:
                acc = product(a, b[0], sa, None if sb is None else sb[0], group)
            else:
                acc = product(a, b, sa, sb, group)
            if integer:
                if "bias" in extra:
                    acc = acc + extra["bias"]
                return convert(acc, g.output, g.overflow)
            if factor is not None:
                acc = acc * factor
            if "c" in extra:
                acc = acc + extra["c"].astype(jnp.float32)
            if "bias" in extra:
                acc = acc + extra["bias"]
            if g.activation == "relu":
                acc = jax.nn.relu(acc)
            elif g.activation in ("gelu_erf", "gelu_tanh"):
                acc = jax.nn.gelu(acc, approximate=g.activation == "gelu_tanh")
            elif g.activation:
                raise NotSupported(f"activation {g.activation!r}")
            return convert(acc, g.output, g.overflow)

        fn = jax.jit(compute)
        result, samples = time_repeats(lambda: fn(a, b, extra), request.timing, lambda r: r.block_until_ready())
        return Reply({"c": gemm_output(request, ops, to_bits(result, g.output))}, samples)

    # ----------------------------------------------------------------------------- attention
    def attention(self, request):
        s = request.spec
        ops = attention_operands(request)
        q, k, v = to_device(ops.q, s.input), to_device(ops.k, s.kv), to_device(ops.v, s.kv)
        visible = jnp.asarray(ops.visible)
        group = s.heads // s.kv_heads
        score_scale = np.float32(s.scale * s.k_scale)
        v_scale = np.float32(s.v_scale)

        def same(x, y):
            # A native dot where the operands share a dtype; else both widened to float32 (exact).
            return (x, y) if x.dtype == y.dtype else (x.astype(jnp.float32), y.astype(jnp.float32))

        def compute(q, k, v, visible):
            ke, ve = jnp.repeat(k, group, axis=1), jnp.repeat(v, group, axis=1)
            x, y = same(q, ke)
            scores = jax.lax.dot_general(x, y, (((3,), (3,)), ((0, 1), (0, 1))), preferred_element_type=jnp.float32)
            t = scores * score_scale
            mask = visible[:, None, :, :]
            t = jnp.where(mask, t, -jnp.inf)
            m = jnp.max(t, axis=-1, keepdims=True)
            m = jnp.where(jnp.isfinite(m), m, 0.0)
            p = jnp.where(mask, jnp.exp(t - m), 0.0).astype(DTYPES[s.p])
            total = jnp.sum(p.astype(jnp.float32), axis=-1, keepdims=True)
            x, y = same(p, ve)
            o = jax.lax.dot_general(x, y, (((3,), (2,)), ((0, 1), (0, 1))), preferred_element_type=jnp.float32)
            o = jnp.where(total > 0, o / jnp.where(total > 0, total, 1.0), 0.0) * v_scale
            return convert(o, s.output, s.overflow)

        fn = jax.jit(compute)
        result, samples = time_repeats(lambda: fn(q, k, v, visible), request.timing, lambda r: r.block_until_ready())
        return Reply({"o": to_bits(result, s.output)}, samples)

    # ---------------------------------------------------------------------------- collectives
    def collective(self, request):
        c = request.spec
        n = c.ranks
        if n > len(self.devices):
            raise NotSupported(f"{n} ranks, but JAX has {len(self.devices)} devices here")
        width = {"fp32": 4, "int32": 4, "fp16": 2, "bf16": 2}.get(c.type, 1)
        count = c.bytes // width
        if c.timing_only:
            shape = {"all_gather": (n, count // n)}.get(c.collective, (n, count))
            data = jnp.zeros(shape, DTYPES[c.type])
        else:
            data = to_device(request.input("in"), c.type)
        mesh = Mesh(np.array(self.devices[:n]), ("r",))
        spec = PartitionSpec("r")
        reduce = {"sum": jax.lax.psum, "max": jax.lax.pmax, "min": jax.lax.pmin}.get(c.reduction)

        def per_rank(x):  # x: this rank's row, [1, count]
            if c.collective == "all_reduce":
                return reduce(x, "r")
            if c.collective == "all_gather":
                return jax.lax.all_gather(x, "r", axis=1, tiled=True)
            if c.collective == "reduce_scatter":
                if c.reduction == "sum":
                    return jax.lax.psum_scatter(x, "r", scatter_dimension=1, tiled=True)
                chunk = x.shape[1] // n
                return jax.lax.dynamic_slice_in_dim(reduce(x, "r"), jax.lax.axis_index("r") * chunk, chunk, axis=1)
            if c.collective == "all_to_all":
                return jax.lax.all_to_all(x, "r", split_axis=1, concat_axis=1, tiled=True)
            if c.collective == "broadcast":
                return jax.lax.all_gather(x, "r", axis=0, tiled=True)[c.root:c.root + 1]
            if c.collective == "send_recv":
                return jax.lax.ppermute(x, "r", [(i, (i + 1) % n) for i in range(n)])
            raise NotSupported(f"collective {c.collective!r}")

        fn = jax.jit(jax.shard_map(per_rank, mesh=mesh, in_specs=spec, out_specs=spec))
        placed = jax.device_put(data, jax.sharding.NamedSharding(mesh, spec))
        result, samples = time_repeats(lambda: fn(placed), request.timing, lambda r: r.block_until_ready())
        outputs = {} if c.timing_only else {"out": to_bits(result, c.type)}
        return Reply(outputs, samples)


if __name__ == "__main__":
    sys.exit(serve(JaxDevice()))
