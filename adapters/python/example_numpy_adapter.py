#!/usr/bin/env python3
"""A minimal adapter on the Python kit: GEMMs in numpy on the host CPU, for vendors to start from.

Products of every input type are exact in binary64 and numpy sums them in binary64, which is
within the bound of the fp32 accumulator it declares (docs/numerics.md: the rule holds for any
order and any rounding at least as accurate as the declared one). The epilogue follows
docs/numerics.md: bias in fp32, the activation in binary64 rounded once to fp32, per-tensor and
block scales, D = A·B + C, then the output conversion by the kit (nearest-even, the case's
overflow mode). Integer GEMMs are exact in int64. Requantisation is left out (`not_supported`),
so the conformance kit shows what a declared feature costs and an undeclared one does not.

    systolic-bench check-adapter --device "process:adapters/python/example_numpy_adapter.py"
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from systolic_adapter import (Adapter, block_scale_columns, decode, Description, encode, features_except, quantize_blocks,  # noqa: E402
                              gemm_operands, gemm_output, NotSupported, Reply, serve, time_repeats)

# How it rounds the scales of the MX and NVFP4 activations it quantises (docs/formats.md).
SCALE_ROUNDING = {"mx": "floor", "nvfp4": "nearest"}
GEMM_TYPES = ["fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1", "int4", "uint4"]

_erf = np.frompyfunc(math.erf, 1, 1)


def activate(y: np.ndarray, activation) -> np.ndarray:
    """The activation on fp32 values, evaluated in binary64 and rounded once to fp32."""
    if activation is None:
        return y
    x = y.astype(np.float64)
    if activation == "relu":
        out = np.where(x > 0, x, 0.0)
    elif activation == "gelu_erf":
        out = 0.5 * x * (1 + _erf(x / math.sqrt(2)).astype(np.float64))
    elif activation == "gelu_tanh":
        out = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    else:
        raise NotSupported(f"activation {activation!r}")
    return out.astype(np.float32)


class NumpyDevice(Adapter):
    def describe(self):
        return Description(
            device={"name": "example-numpy-cpu", "vendor": "SystolicBench example", "product": "numpy on the host CPU",
                    "driver_version": np.__version__, "kind": "hardware",
                    "arithmetic": {"accumulator": "fp32", "subnormals": "preserve", "overflow_modes": ["saturate", "ieee"],
                                   "input_types": GEMM_TYPES, "scale_rounding": SCALE_ROUNDING},
                    "ops": ["gemm"], "peak_ops_per_second": {}},
            features={"gemm": features_except("requantization")["gemm"], "attention": []})

    def gemm(self, request):
        g = request.spec
        ops = gemm_operands(request)
        b = decode(ops.b, g.b)
        int4 = bool(g.block_format) and g.block_format.get("scheme") == "int4"
        if int4 and ops.zero_b is not None:
            # int4 weights: q − z, each group's zero point repeated down its K rows.
            b = b - np.repeat(ops.zero_b, g.block_format["group"], axis=1)
        tensor_a = ops.tensor_scale_a
        if g.block_format and g.block_format.get("a_from"):
            # MX or NVFP4 activations quantised here, as declared (SCALE_ROUNDING).
            scheme = g.block_format["scheme"]
            values = decode(ops.a, g.block_format["a_from"]).reshape(g.batch * g.m, g.k)
            a, scales, tensor_a = quantize_blocks(values, g.a, scheme, SCALE_ROUNDING[scheme])
            a = a.reshape(g.batch, g.m, g.k)
            ops.scale_a = scales.reshape(g.batch, g.m, -1)
        else:
            a = decode(ops.a, g.a)
        # MXINT8 (MX with int8 elements): each element stands for k/64 (OCP MX v1.0, 5.4).
        mxint8 = bool(g.block_format) and g.block_format.get("scheme") == "mx" and g.a == "int8"
        if mxint8:
            if g.block_format.get("a_from"):
                raise NotSupported("this example does not quantise MXINT8 activations")
            a, b = a / 64.0, b / 64.0
        # W4A8's int8 activations take the block-scaled float path: every group's integer sum is
        # below 2^24, so exact in float32 as in an int32 accumulator.
        integer = g.a == "int8" and not int4 and not mxint8
        if integer:
            a, b = a.astype(np.int64), b.astype(np.int64)

        def product(rows, matrix):
            if ops.scale_a is None and ops.scale_b is None:
                return rows @ matrix
            # Block scales: each K group's partial sum times its blocks' scales, summed in fp32.
            ka, kb = g.block_a or [1, g.k], g.block_b or [g.k, 1]
            group = ka[1] if g.block_a else kb[0]
            acc = np.zeros((rows.shape[0], matrix.shape[1]), np.float32)
            for j, k0 in enumerate(range(0, g.k, group)):
                part = (rows[:, k0:k0 + group] @ matrix[k0:k0 + group]).astype(np.float32)
                sa = block_scale_columns(scale_a_rows[:, j:j + 1], ka[0], rows.shape[0], 0) \
                    if ops.scale_a is not None else np.ones((rows.shape[0], 1))
                sb = block_scale_columns(scale_b_cols[j:j + 1, :], kb[1], matrix.shape[1], 1) \
                    if ops.scale_b is not None else np.ones((1, matrix.shape[1]))
                acc = (acc + part * (sa * sb).astype(np.float32)).astype(np.float32)
            return acc

        def run():
            nonlocal scale_a_rows, scale_b_cols
            out = np.empty((g.batch, g.m, g.n), np.int64 if integer else np.float32)
            for i in range(g.batch):
                if ops.group_sizes is not None:
                    start = 0
                    for e, rows in enumerate(ops.group_sizes):
                        scale_a_rows = ops.scale_a[0, start:start + rows] if ops.scale_a is not None else None
                        scale_b_cols = ops.scale_b[e] if ops.scale_b is not None else None
                        out[i, start:start + rows] = product(a[i, start:start + rows], b[e])
                        start += rows
                else:
                    scale_a_rows = ops.scale_a[i] if ops.scale_a is not None else None
                    scale_b_cols = ops.scale_b[i if ops.scale_b.shape[0] > 1 else 0] if ops.scale_b is not None else None
                    out[i] = product(a[i], b[i if b.shape[0] > 1 else 0])
            if integer:
                if g.bias:
                    out = out + ops.bias.astype(np.int64)
                return out
            y = out.astype(np.float32)
            if g.scale_a is not None or g.scale_b is not None or g.scale_output is not None:
                y = y * np.float32((g.scale_a or 1) * (g.scale_b or 1) / (g.scale_output or 1))
            if g.block_format:
                # NVFP4's tensor scales (1 for MX): one fp32 factor after the blocks.
                y = y * np.float32(tensor_a * ops.tensor_scale_b)
            if ops.c is not None:
                y = y + decode(ops.c, g.accumulate_c).astype(np.float32)
            if g.bias:
                y = y + decode(ops.bias, "fp32").astype(np.float32)
            return activate(y, g.activation)

        scale_a_rows = scale_b_cols = None
        result, samples = time_repeats(run, request.timing)
        bits = encode(result, g.output, g.overflow)
        return Reply({"c": gemm_output(request, ops, bits)}, samples)


if __name__ == "__main__":
    sys.exit(serve(NumpyDevice()))
