"""SystolicBench adapter kit for Python: the process protocol (docs/protocol.md), versions 1 and 2.

A vendor (or a framework) writes a subclass of `Adapter` that describes its device and runs cases,
and calls `serve(adapter)`: the kit reads requests on fd 3, answers on fd 4, maps tensor files to
numpy arrays of raw element bits and back, times repetitions, and turns exceptions into replies
(`NotSupported` into `not_supported`, anything else into `error` with the exception's text), so
one bad case never ends the adapter.

Standard library and numpy only. Tensors travel as raw little-endian bits (docs/protocol.md,
"Tensor files"): `decode` and `encode` convert them to and from float64 values with the
project's conversions (nearest-even, the case's overflow mode); where `ml_dtypes` is installed,
`as_ml_dtype` views bf16 and fp8 bits as its types for frameworks that take them.

    class MyDevice(Adapter):
        def describe(self): return Description(device={...}, features={"gemm": ["bias"]})
        def gemm(self, request): ...  # returns {"c": bits}, samples
    serve(MyDevice())
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

__all__ = [
    "Adapter", "AdapterError", "Attention", "AttentionOperands", "Collective", "Description", "Gemm",
    "GemmOperands", "NotSupported", "Reply", "RunRequest", "TensorFile", "Timing", "TYPES", "as_ml_dtype",
    "FEATURES", "MX_ELEMENTS", "NARROW_FORMATS", "NIBBLE_TYPES", "attention_operands", "quantize_blocks", "decode_e8m0", "decode_narrow", "encode_narrow",
    "pack_int4", "unpack_int4", "block_scale_columns", "decode", "encode", "expanded_block_scales",
    "features_except", "gemm_operands",
    "gemm_output",
    "largest_finite", "read_tensor", "serve", "time_repeats",
]

REQUEST_FD = 3
REPLY_FD = 4
MAX_MESSAGE = 1 << 20  # one JSON line, at most 1 MiB (docs/protocol.md)
PROTOCOLS = (1, 2)


class NotSupported(Exception):
    """Raise from a run method for a case the device cannot run; the reason goes in the reply."""


class AdapterError(Exception):
    """A request the kit cannot read (a missing member, a value of the wrong kind)."""


# --------------------------------------------------------------------------------------------
# Element types (docs/protocol.md, "Tensor files"; the formats as in docs/numerics.md)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FloatFormat:
    exponent_bits: int
    mantissa_bits: int
    has_infinity: bool  # False for OCP E4M3 ("fn"): no infinities, S.1111.111 is NaN
    finite_only: bool = False  # OCP MX fp6 and fp4: every code a number, no infinity, no NaN

    @property
    def bias(self) -> int:
        return (1 << (self.exponent_bits - 1)) - 1

    @property
    def min_exponent(self) -> int:
        return 1 - self.bias


@dataclass(frozen=True)
class ElementType:
    name: str
    width: int          # bytes per element
    raw: str            # numpy dtype of the raw bits
    float_format: Optional[FloatFormat]

    @property
    def is_integer(self) -> bool:
        return self.float_format is None


TYPES = {
    "fp32": ElementType("fp32", 4, "<u4", FloatFormat(8, 23, True)),
    "fp16": ElementType("fp16", 2, "<u2", FloatFormat(5, 10, True)),
    "bf16": ElementType("bf16", 2, "<u2", FloatFormat(8, 7, True)),
    "fp8_e4m3": ElementType("fp8_e4m3", 1, "u1", FloatFormat(4, 3, False)),
    "fp8_e5m2": ElementType("fp8_e5m2", 1, "u1", FloatFormat(5, 2, True)),
    "int8": ElementType("int8", 1, "i1", None),
    "int32": ElementType("int32", 4, "<i4", None),
    # OCP MX element formats below fp8 (docs/formats.md): GEMM inputs only, one code per byte.
    "fp6_e2m3": ElementType("fp6_e2m3", 1, "u1", FloatFormat(2, 3, False, finite_only=True)),
    "fp6_e3m2": ElementType("fp6_e3m2", 1, "u1", FloatFormat(3, 2, False, finite_only=True)),
    "fp4_e2m1": ElementType("fp4_e2m1", 1, "u1", FloatFormat(2, 1, False, finite_only=True)),
    # int4 weights (docs/formats.md, "int4 weights"): B only, packed two per byte in tensor files
    # (element 2i in the low nibble of byte i); read_tensor unpacks them to one code per byte.
    "int4": ElementType("int4", 1, "u1", None),
    "uint4": ElementType("uint4", 1, "u1", None),
}
NIBBLE_TYPES = ("int4", "uint4")
_NARROW_NAMES = {"fp6_e2m3": "e2m3", "fp6_e3m2": "e3m2", "fp4_e2m1": "e2m1"}


def _element_type(name: str) -> ElementType:
    try:
        return TYPES[name]
    except KeyError:
        raise AdapterError(f"unknown element type {name!r}") from None


def _codes(fmt: FloatFormat) -> np.ndarray:
    """Every code of a format of at most 16 bits, decoded to float64 (NaN where the code is one)."""
    total = 1 + fmt.exponent_bits + fmt.mantissa_bits
    codes = np.arange(1 << total, dtype=np.int64)
    emask = (1 << fmt.exponent_bits) - 1
    mmask = (1 << fmt.mantissa_bits) - 1
    e = (codes >> fmt.mantissa_bits) & emask
    m = codes & mmask
    normal = np.ldexp((m | (1 << fmt.mantissa_bits)).astype(np.float64), (e - fmt.bias - fmt.mantissa_bits).astype(np.int32))
    subnormal = np.ldexp(m.astype(np.float64), np.int32(fmt.min_exponent - fmt.mantissa_bits))
    magnitude = np.where(e == 0, subnormal, normal)
    if fmt.has_infinity:
        magnitude = np.where(e == emask, np.where(m == 0, np.inf, np.nan), magnitude)
    elif not fmt.finite_only:
        magnitude = np.where((e == emask) & (m == mmask), np.nan, magnitude)
    sign = (codes >> (total - 1)) & 1
    return np.where(sign == 1, -magnitude, magnitude)


_TABLES: dict = {}


def _table(name: str) -> np.ndarray:
    if name not in _TABLES:
        _TABLES[name] = _codes(TYPES[name].float_format)
    return _TABLES[name]


def largest_finite(name: str) -> float:
    """The type's largest finite value (448 for E4M3, 57344 for E5M2, 65504 for fp16)."""
    t = _element_type(name)
    if t.is_integer:
        return float(np.iinfo(np.dtype(t.raw)).max)
    if name == "fp32":
        return float(np.finfo(np.float32).max)
    table = _table(name)
    return float(np.nanmax(table[np.isfinite(table)]))


def decode(bits: np.ndarray, name: str) -> np.ndarray:
    """Raw element bits to values: float64 for the float types (exact), int64 for the integers."""
    t = _element_type(name)
    bits = np.asarray(bits)
    if name in NIBBLE_TYPES:
        nibbles = bits.astype(np.int64) & 0xF
        return np.where(nibbles >= 8, nibbles - 16, nibbles) if name == "int4" else nibbles
    if t.is_integer:
        return bits.view(np.dtype(t.raw)).astype(np.int64)
    if name == "fp32":
        return bits.view("<u4").view("<f4").astype(np.float64)
    if name == "bf16":
        return (bits.view("<u2").astype(np.uint32) << 16).view("<f4").astype(np.float64)
    if name == "fp16":
        return bits.view("<u2").view("<f2").astype(np.float64)
    if name in _NARROW_NAMES:
        return decode_narrow(bits.view("u1"), _NARROW_NAMES[name])
    return _table(name)[bits.view("u1")]


def _round_to_format(x: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    """Each finite float64 value rounded once, nearest-even, to the format's precision and
    subnormal step (the exponent range is unbounded above: overflow is the caller's)."""
    with np.errstate(invalid="ignore", over="ignore"):
        _, e = np.frexp(x)  # x = f·2^e, 0.5 <= |f| < 1: the binade is 2^(e-1)
        exponent = np.maximum(e.astype(np.int64) - 1, fmt.min_exponent)
        shift = (fmt.mantissa_bits - exponent).astype(np.int32)
        return np.ldexp(np.rint(np.ldexp(x, shift)), -shift)  # rint: ties to even


def encode(values, name: str, overflow: str = "ieee") -> np.ndarray:
    """Values (float or integer arrays) to raw bits of `name`, as the harness converts outputs:
    nearest-even in one rounding from the value given; beyond the largest finite value, ±max in
    `saturate` mode, else ±inf (NaN for E4M3, which has no infinity); NaN stays NaN. Integers are
    rounded to nearest-even and saturate to the type's range (int8 outputs of requantisation)."""
    t = _element_type(name)
    x = np.asarray(values)
    if t.is_integer:
        info = np.iinfo(np.dtype(t.raw))
        v = np.rint(x) if x.dtype.kind == "f" else x
        return np.clip(v, info.min, info.max).astype(np.dtype(t.raw))
    x = x.astype(np.float64)
    if name in _NARROW_NAMES:
        return encode_narrow(x, _NARROW_NAMES[name])   # saturating in either mode: no infinity
    fmt = t.float_format
    if name == "fp32":
        out = x.astype(np.float32)  # correctly rounded by the FPU
        if overflow == "saturate":
            big = np.float32(np.finfo(np.float32).max)
            out = np.where(np.isinf(out) & np.isfinite(x), np.copysign(big, x).astype(np.float32), out)
            out = np.where(np.isinf(x), np.copysign(big, x).astype(np.float32), out)
        return out.view("<u4")
    rounded = _round_to_format(x, fmt)
    top = largest_finite(name)
    with np.errstate(invalid="ignore"):
        too_big = np.abs(rounded) > top
    if overflow == "saturate":
        rounded = np.where(too_big, np.copysign(top, x), rounded)
    elif fmt.has_infinity:
        rounded = np.where(too_big, np.copysign(np.inf, x), rounded)
    else:
        rounded = np.where(too_big, np.nan, rounded)
    if name == "bf16":
        f32 = rounded.astype(np.float32).view("<u4")
        bits = (f32 >> 16).astype("<u2")
        return np.where(np.isnan(rounded), np.uint16(0x7FC0) | (bits & np.uint16(0x8000)), bits).astype("<u2")
    if name == "fp16":
        return rounded.astype("<f2").view("<u2")
    # fp8: find each rounded value's code among the non-negative codes, then set the sign.
    table = _table(name)
    positive = table[: len(table) // 2]
    order = np.argsort(positive, kind="stable")  # NaN codes sort last
    magnitudes = positive[order]
    a = np.abs(rounded)
    index = np.searchsorted(magnitudes, np.where(np.isnan(a), 0.0, a))
    index = np.minimum(index, len(magnitudes) - 1)
    codes = order[index].astype(np.uint8)
    sign = np.where(np.signbit(rounded), np.uint8(0x80), np.uint8(0))
    nan_code = np.uint8(0x7F if not fmt.has_infinity else 0x7E)
    return np.where(np.isnan(rounded), nan_code, codes | sign).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Narrow formats of MX, NVFP4 and int4 weights (docs/formats.md), for adapters of chips that take
# them: element codes one per array element (uint8), values as float64.
# --------------------------------------------------------------------------------------------

NARROW_FORMATS = {
    "e2m1": FloatFormat(2, 1, False, finite_only=True),   # fp4: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}
    "e2m3": FloatFormat(2, 3, False, finite_only=True),   # fp6: largest 7.5
    "e3m2": FloatFormat(3, 2, False, finite_only=True),   # fp6: largest 28
}
_NARROW_TABLES: dict = {}


def _narrow_table(name: str) -> np.ndarray:
    if name not in _NARROW_TABLES:
        _NARROW_TABLES[name] = _codes(NARROW_FORMATS[name])
    return _NARROW_TABLES[name]


def decode_narrow(codes: np.ndarray, name: str) -> np.ndarray:
    """fp4 or fp6 codes (low bits of each byte) to their values."""
    table = _narrow_table(name)
    return table[np.asarray(codes, np.uint8) & np.uint8(len(table) - 1)]


def encode_narrow(values, name: str) -> np.ndarray:
    """Values to fp4 or fp6 codes: nearest-even in one rounding, saturating (the formats have no
    infinity); NaN gives +0 (in MX a NaN is carried by the block's scale)."""
    fmt = NARROW_FORMATS[name]
    x = np.asarray(values, np.float64)
    rounded = _round_to_format(np.where(np.isnan(x), 0.0, x), fmt)
    table = _narrow_table(name)
    top = float(table[: len(table) // 2].max())
    rounded = np.clip(rounded, -top, top)
    positive = table[: len(table) // 2]
    codes = np.searchsorted(positive, np.abs(rounded)).astype(np.uint8)   # positive codes ascend
    sign = np.where(np.signbit(rounded), np.uint8(len(table) // 2), np.uint8(0))
    return (codes | sign).astype(np.uint8)


def decode_e8m0(codes: np.ndarray) -> np.ndarray:
    """E8M0 scale codes to 2^(code − 127); 0xFF is NaN."""
    c = np.asarray(codes, np.uint8).astype(np.int32)
    return np.where(c == 0xFF, np.nan, np.ldexp(1.0, c - 127))


def pack_int4(values) -> np.ndarray:
    """int4 values (−8…7) two per byte, the lower index in the low nibble."""
    v = np.asarray(values, np.int64).reshape(-1)
    if v.size and (v.min() < -8 or v.max() > 7):
        raise ValueError("int4 values lie in -8...7")
    nibbles = (v & 0xF).astype(np.uint8)
    if nibbles.size % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)


def unpack_int4(packed: np.ndarray, count: int) -> np.ndarray:
    """The first `count` int4 values of a packed buffer, sign-extended."""
    p = np.asarray(packed, np.uint8)
    nibbles = np.stack([p & 0xF, p >> 4], axis=-1).reshape(-1)[:count].astype(np.int64)
    return np.where(nibbles >= 8, nibbles - 16, nibbles)


def as_ml_dtype(bits: np.ndarray, name: str) -> np.ndarray:
    """A view of raw bits as the framework dtype (ml_dtypes' bfloat16, float8_e4m3fn, float8_e5m2
    where installed; numpy's own for fp32, fp16 and the integers)."""
    if name == "fp32":
        return bits.view("<f4")
    if name == "fp16":
        return bits.view("<f2")
    if name in ("int8", "int32"):
        return bits.view(TYPES[name].raw)
    import ml_dtypes  # the kit's only optional dependency
    return bits.view({"bf16": ml_dtypes.bfloat16, "fp8_e4m3": ml_dtypes.float8_e4m3fn,
                      "fp8_e5m2": ml_dtypes.float8_e5m2}[name])


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------

def _member(obj: dict, key: str, kind, where: str, default=...):
    if key not in obj:
        if default is ...:
            raise AdapterError(f"{where}: missing member {key!r}")
        return default
    value = obj[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise AdapterError(f"{where}.{key}: {value!r} is not {getattr(kind, '__name__', kind)}")
    return value


@dataclass
class TensorFile:
    path: str
    type: str
    shape: tuple

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def bytes(self) -> int:
        if self.type in NIBBLE_TYPES:
            return (self.count + 1) // 2
        return self.count * TYPES[self.type].width

    @staticmethod
    def parse(obj, where: str) -> "TensorFile":
        if not isinstance(obj, dict):
            raise AdapterError(f"{where}: not an object")
        shape = _member(obj, "shape", list, where)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise AdapterError(f"{where}.shape: {shape!r} is not a list of sizes")
        t = _member(obj, "type", str, where)
        _element_type(t)
        return TensorFile(_member(obj, "path", str, where), t, tuple(shape))


@dataclass
class Timing:
    warmup: int = 1
    min_repeats: int = 5
    min_seconds: float = 0.0


@dataclass
class Gemm:
    """A GEMM as the request states it (docs/protocol.md; version-2 members None when absent)."""
    m: int
    n: int
    k: int
    batch: int
    a: str
    b: str
    accumulate: str
    output: str
    layout_b: str
    overflow: str
    lda: Optional[int] = None
    ldb: Optional[int] = None
    ldc: Optional[int] = None
    bias: bool = False
    activation: Optional[str] = None
    scale_a: Optional[float] = None
    scale_b: Optional[float] = None
    scale_output: Optional[float] = None
    block_a: Optional[list] = None
    block_b: Optional[list] = None
    requantization: Optional[dict] = None
    groups: Optional[int] = None
    accumulate_c: Optional[str] = None
    block_format: Optional[dict] = None

    def features(self) -> list:
        """The protocol-2 features this case uses (the harness sends it only when all are declared)."""
        used = []
        if self.bias: used.append("bias")
        if self.activation: used.append("activation")
        if self.scale_a is not None or self.scale_b is not None or self.scale_output is not None: used.append("scales")
        if self.block_a or self.block_b: used.append("block_scales")
        if self.requantization: used.append("requantization")
        if self.lda or self.ldb or self.ldc: used.append("leading_dimensions")
        if self.groups: used.append("groups")
        if self.accumulate_c: used.append("accumulate_c")
        if self.block_format:
            used.append("int4_weights" if self.block_format.get("scheme") == "int4" else "block_formats")
            if self.block_format.get("a_from"): used.append("quantizes_a")
        return used


@dataclass
class Attention:
    batch: int
    heads: int
    kv_heads: int
    head_dim: int
    q_len: int
    kv_lens: list
    causal: bool
    scale: float
    input: str
    kv: str
    accumulate: str
    p: str
    output: str
    k_scale: float
    v_scale: float
    kv_layout: str
    page_size: int
    overflow: str


@dataclass
class Collective:
    collective: str
    ranks: int
    bytes: int
    type: str
    reduction: str
    in_place: bool
    root: int
    timing_only: bool


_SPECS = {
    "gemm": (Gemm, {"m": int, "n": int, "k": int, "batch": int, "a": str, "b": str, "accumulate": str, "output": str,
                    "layout_b": str, "overflow": str},
             {"lda": int, "ldb": int, "ldc": int, "bias": bool, "activation": str, "scale_a": float, "scale_b": float,
              "scale_output": float, "block_a": list, "block_b": list, "requantization": dict, "groups": int,
              "accumulate_c": str, "block_format": dict}),
    "attention": (Attention, {"batch": int, "heads": int, "kv_heads": int, "head_dim": int, "q_len": int, "kv_lens": list,
                              "causal": bool, "scale": float, "input": str, "kv": str, "accumulate": str, "p": str,
                              "output": str, "k_scale": float, "v_scale": float, "kv_layout": str, "page_size": int,
                              "overflow": str}, {}),
    "collective": (Collective, {"collective": str, "ranks": int, "bytes": int, "type": str, "reduction": str,
                                "in_place": bool, "root": int, "timing_only": bool}, {}),
}


@dataclass
class RunRequest:
    id: str
    op: str
    spec: object                      # Gemm, Attention or Collective
    inputs: dict                      # role -> TensorFile
    outputs: dict                     # role -> TensorFile
    timing: Timing

    @staticmethod
    def parse(obj: dict) -> "RunRequest":
        case_id = _member(obj, "id", str, "run")
        op = _member(obj, "op", str, "run")
        if op not in _SPECS:
            raise NotSupported(f"op {op!r} is not one this kit knows")
        cls, required, optional = _SPECS[op]
        body = _member(obj, op, dict, "run")
        values = {key: _member(body, key, kind, f"run.{op}") for key, kind in required.items()}
        values.update({key: _member(body, key, kind, f"run.{op}") for key, kind in optional.items() if key in body})
        t = _member(obj, "timing", dict, "run", {})
        timing = Timing(_member(t, "warmup", int, "run.timing", 1), _member(t, "min_repeats", int, "run.timing", 1),
                        _member(t, "min_seconds", float, "run.timing", 0.0))
        inputs = {role: TensorFile.parse(v, f"run.inputs.{role}") for role, v in _member(obj, "inputs", dict, "run", {}).items()}
        outputs = {role: TensorFile.parse(v, f"run.outputs.{role}") for role, v in _member(obj, "outputs", dict, "run", {}).items()}
        return RunRequest(case_id, op, cls(**values), inputs, outputs, timing)

    def input(self, role: str) -> np.ndarray:
        """An input's raw bits, shaped."""
        return read_tensor(self.inputs[role])


def read_tensor(tf: TensorFile) -> np.ndarray:
    """A tensor file's raw bits as a numpy array of its shape (the file must have exactly its size)."""
    with open(tf.path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size != tf.bytes:
            raise AdapterError(f"{tf.path}: {size} bytes, expected {tf.bytes} for {tf.type} {list(tf.shape)}")
        if tf.type in NIBBLE_TYPES:
            packed = np.fromfile(f, dtype=np.uint8, count=tf.bytes)
            data = np.stack([packed & 0xF, packed >> 4], axis=-1).reshape(-1)[: tf.count]
        else:
            data = np.fromfile(f, dtype=np.dtype(TYPES[tf.type].raw), count=tf.count)
    return data.reshape(tf.shape)


def write_output(tf: TensorFile, bits: np.ndarray) -> None:
    """Writes raw bits in place into the output file the request names, which must exist as a
    regular file of exactly the output's size: never created, resized or followed through a link."""
    expected = np.dtype(TYPES[tf.type].raw)
    bits = np.ascontiguousarray(bits)
    if bits.dtype.itemsize != expected.itemsize or bits.size != tf.count:
        raise AdapterError(f"output {tf.path}: {bits.size} elements of {bits.dtype.itemsize} bytes, "
                           f"expected {tf.count} of {expected.itemsize} ({tf.type} {list(tf.shape)})")
    fd = os.open(tf.path, os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != tf.bytes:
            raise AdapterError(f"output {tf.path}: not a regular file of {tf.bytes} bytes")
        view = memoryview(bits.view(np.uint8).reshape(-1))
        offset = 0
        while offset < len(view):
            offset += os.pwrite(fd, view[offset:], offset)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# Operands in one shape whatever the request's layout (moving data, never changing a value)
# --------------------------------------------------------------------------------------------

@dataclass
class GemmOperands:
    """A GEMM's inputs as raw bits in the plain shapes: A [batch, M, K]; B [matrices, K, N]
    (matrices = batch, 1 shared, or the experts of a grouped GEMM), whatever `layout_b` and the
    leading dimensions were; the bias [N]; the addend C [batch, M, N] for `accumulate_c`; the block
    scales as float64 [.., blocks of M, K groups] and [.., K groups, blocks of N]; the experts' row
    counts; C's initial rows with their padding (`ldc`), which the output keeps; and int4
    weights' zero points as int64 [matrices, K groups, N]."""
    a: np.ndarray
    b: np.ndarray
    bias: Optional[np.ndarray] = None
    c: Optional[np.ndarray] = None
    scale_a: Optional[np.ndarray] = None
    scale_b: Optional[np.ndarray] = None
    group_sizes: Optional[list] = None
    c_rows: Optional[np.ndarray] = None
    tensor_scale_a: float = 1.0
    tensor_scale_b: float = 1.0
    zero_b: Optional[np.ndarray] = None


def gemm_operands(request: RunRequest) -> GemmOperands:
    g = request.spec
    a = request.input("a")[:, :, : g.k]
    b = request.input("b")
    b = b[:, :, : g.k] if g.layout_b == "nk" else b[:, :, : g.n]
    if g.layout_b == "nk":
        b = np.swapaxes(b, 1, 2)
    ops = GemmOperands(np.ascontiguousarray(a), np.ascontiguousarray(b))
    if g.bias:
        ops.bias = request.input("bias")
    if "c" in request.inputs:
        rows = request.input("c")
        if g.ldc:
            ops.c_rows = rows
        if g.accumulate_c:
            ops.c = np.ascontiguousarray(rows[:, :, : g.n])
    if "scale_a" in request.inputs:
        ops.scale_a = decode(request.input("scale_a"), "fp32")
    if "scale_b" in request.inputs:
        ops.scale_b = decode(request.input("scale_b"), "fp32")
    if "zero_b" in request.inputs:
        ops.zero_b = decode(request.input("zero_b"), "uint4")
    elif g.block_format and g.block_format.get("scheme") == "int4" and g.block_format.get("zero_point"):
        # Without them every q − z would be read as q.
        raise AdapterError("the request's block_format has zero points but no input 'zero_b'")
    for role in ("tensor_scale_a", "tensor_scale_b"):
        if role in request.inputs:
            setattr(ops, role, float(decode(request.input(role), "fp32").reshape(-1)[0]))
    if g.groups:
        ops.group_sizes = [int(x) for x in request.input("group_sizes").reshape(-1)]
        if len(ops.group_sizes) != g.groups or sum(ops.group_sizes) != g.m or min(ops.group_sizes, default=0) < 0:
            raise AdapterError(f"group_sizes {ops.group_sizes} do not split {g.m} rows into {g.groups} experts")
    return ops


def gemm_output(request: RunRequest, ops: GemmOperands, bits: np.ndarray) -> np.ndarray:
    """The output file's contents: the M×N result's bits, written into C's initial rows when the
    case has a leading dimension for C (every padding element returned untouched)."""
    if ops.c_rows is None:
        return bits
    out = ops.c_rows.copy()
    out[:, :, : request.spec.n] = bits
    return out


def block_scale_columns(scales: np.ndarray, block: int, size: int, axis: int) -> np.ndarray:
    """Block scales expanded along one axis to every row or column they cover (the last block may
    be partial): [.., blocks, ..] to [.., size, ..] along `axis`."""
    return np.repeat(scales, block, axis=axis).take(np.arange(size), axis=axis)


def expanded_block_scales(request: RunRequest, ops: GemmOperands):
    """For a case with block scales: (sa [batch, M, G], sb [matrices, G, N], g) as float32, each K
    group's scales expanded to every row of A and column of B they cover, g the group's width in K
    (a side without block scales gets ones); None for a case without them."""
    if ops.scale_a is None and ops.scale_b is None:
        return None
    spec = request.spec
    block_a, block_b = spec.block_a or [1, spec.k], spec.block_b or [spec.k, 1]
    groups = -(-spec.k // block_a[1])
    sa = ops.scale_a if ops.scale_a is not None else np.ones((spec.batch, -(-spec.m // block_a[0]), groups))
    sb = ops.scale_b if ops.scale_b is not None else np.ones((ops.b.shape[0], groups, -(-spec.n // block_b[1])))
    return (block_scale_columns(sa, block_a[0], spec.m, 1).astype(np.float32),
            block_scale_columns(sb, block_b[1], spec.n, 2).astype(np.float32), block_a[1])


MX_ELEMENTS = {"fp8_e4m3": (448.0, 8, 3), "fp8_e5m2": (57344.0, 15, 2), "fp6_e2m3": (7.5, 2, 3), "fp6_e3m2": (28.0, 4, 2),
               "fp4_e2m1": (6.0, 2, 1)}   # largest value, emax, fraction bits (OCP MX v1.0, Table 1)


def quantize_blocks(values: np.ndarray, element: str, scheme: str, rounding: str):
    """Rows of unquantised values [rows, K] quantised along K as docs/formats.md specifies: MX in
    blocks of 32 with E8M0 scales chosen by `rounding` (floor, rceil or even), or NVFP4 in blocks of
    16 with E4M3 scales rounded `nearest` or `up` under an fp32 tensor scale (amax / 2688). A block
    holding a NaN or infinity takes the NaN scale, its elements what its finite values give.
    Returns (element values [rows, K] as float64, scales [rows, K / block] as float64, tensor scale):
    a quantised value is tensor scale × scale × element."""
    x = np.asarray(values, np.float64)
    block = 32 if scheme == "mx" else 16
    rows, k = x.shape
    blocks = x.reshape(rows, k // block, block)
    finite = np.where(np.isfinite(blocks), blocks, 0.0)
    special = ~np.isfinite(blocks).all(axis=2)
    amax = np.abs(finite).max(axis=2)
    if scheme == "mx":
        top, emax, mantissa = MX_ELEMENTS[element]
        with np.errstate(divide="ignore"):
            _, e = np.frexp(np.where(amax > 0, amax, 1.0))
        binade = e.astype(np.int64) - 1
        exponent = (binade - emax).astype(np.int32)
        if rounding == "rceil":
            exponent = exponent + (np.ldexp(amax, -exponent) > top).astype(np.int32)
        elif rounding == "even":
            # amax in the element's top binade, rounded to its precision there: a carry moves the scale up.
            quantum = float(2 ** (emax - mantissa))
            exponent = exponent + (np.rint(np.ldexp(amax, -exponent) / quantum) * quantum >= 2.0 ** (emax + 1)).astype(np.int32)
        exponent = np.clip(np.where(amax > 0, exponent, -127), -127, 127).astype(np.int32)
        scale = np.ldexp(1.0, exponent)
        elements = decode(encode(np.ldexp(finite, -exponent[:, :, None]), element, "saturate"), element)
        tensor = 1.0
    else:
        t = np.float32(np.abs(np.where(np.isfinite(x), x, 0.0)).max() / (448.0 * 6)) if x.size else np.float32(0)
        tensor = float(t) if t > 0 and np.isfinite(t) else 1.0
        exact = amax / (6 * tensor)
        codes = encode(exact, "fp8_e4m3", "saturate")
        if rounding == "up":
            codes = np.where((decode(codes, "fp8_e4m3") < exact) & (codes < 0x7E), codes + 1, codes).astype(np.uint8)
        scale = decode(codes, "fp8_e4m3")
        factor = tensor * scale
        with np.errstate(divide="ignore", invalid="ignore"):
            elements = np.where(factor[:, :, None] > 0, decode(encode(finite / factor[:, :, None], element), element), 0.0)
    scale = np.where(special, np.nan, scale)
    return elements.reshape(rows, k), scale, tensor


@dataclass
class AttentionOperands:
    """Attention's inputs as raw bits in one layout: q [batch, heads, q_len, head_dim], k and v
    [batch, kv_heads, kv_len, head_dim] (pages gathered, `bshd` transposed), every position past a
    sequence's own length zeroed (it holds NaN, which must not be read), and `visible`
    [batch, q_len, kv_len]: whether query i sees key j (kv_lens, and the causal mask aligned
    bottom-right: j <= kv_len - q_len + i)."""
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    visible: np.ndarray


def attention_operands(request: RunRequest) -> AttentionOperands:
    s = request.spec
    kv_len = max(s.kv_lens) if s.kv_lens else 0
    k, v = request.input("k"), request.input("v")
    if s.kv_layout == "paged":
        table = request.input("page_table")
        pages = -(-kv_len // s.page_size)
        index = np.where(table[:, :pages] < 0, 0, table[:, :pages])
        k = k[index].reshape(s.batch, pages * s.page_size, s.kv_heads, s.head_dim)[:, :kv_len]
        v = v[index].reshape(s.batch, pages * s.page_size, s.kv_heads, s.head_dim)[:, :kv_len]
    if s.kv_layout in ("paged", "bshd"):
        k, v = np.swapaxes(k, 1, 2), np.swapaxes(v, 1, 2)
    elif s.kv_layout != "bhsd":
        raise NotSupported(f"kv layout {s.kv_layout!r} is not one this kit knows")
    positions = np.arange(kv_len)
    lens = np.asarray(s.kv_lens).reshape(-1, 1)
    present = positions[None, :] < lens                                     # [batch, kv_len]
    k = np.where(present[:, None, :, None], k, 0).astype(k.dtype)
    v = np.where(present[:, None, :, None], v, 0).astype(v.dtype)
    visible = np.broadcast_to(present[:, None, :], (s.batch, s.q_len, kv_len))
    if s.causal:
        limit = lens - s.q_len + np.arange(s.q_len)[None, :]                # [batch, q_len]
        visible = visible & (positions[None, None, :] <= limit[:, :, None])
    return AttentionOperands(request.input("q"), np.ascontiguousarray(k), np.ascontiguousarray(v), np.ascontiguousarray(visible))


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------

def time_repeats(run: Callable[[], object], timing: Timing, sync: Callable[[object], object] = lambda r: r):
    """Runs `warmup` untimed repetitions, then timed ones until both `min_repeats` and `min_seconds`
    are reached (docs/protocol.md, "Timing"). `sync(result)` must wait until the device has finished
    (`block_until_ready` in JAX, `torch.cuda.synchronize` on a GPU). Returns the last timed result
    and each timed repetition's seconds by the host's monotonic clock."""
    for _ in range(max(timing.warmup, 0)):
        sync(run())
    samples, total, result = [], 0.0, None
    while len(samples) < max(timing.min_repeats, 1) or total < timing.min_seconds:
        start = time.perf_counter()
        result = sync(run())
        seconds = time.perf_counter() - start
        samples.append(seconds)
        total += seconds
    return result, samples


# --------------------------------------------------------------------------------------------
# The adapter and the loop
# --------------------------------------------------------------------------------------------

# Every protocol-2 feature by op (docs/protocol.md, "hello"); `features_except` for a declaration.
FEATURES = {"gemm": ["bias", "activation", "scales", "block_scales", "requantization", "leading_dimensions", "groups",
                     "accumulate_c", "block_formats", "quantizes_a", "int4_weights"],
            "attention": ["kv_scales", "layout_bshd", "layout_paged"]}


def features_except(*left_out: str) -> dict:
    """Every feature but those named, by op: what an adapter that implements the rest declares."""
    return {op: [f for f in names if f not in left_out] for op, names in FEATURES.items()}


@dataclass
class Description:
    """What `hello` answers: `device` in the results' device-descriptor format
    (schemas/results.schema.json#/$defs/device), the protocol-2 features per op, the timer
    (`device` or `wall`) and the energy source (`none`, `modelled`, `on_chip_counter`,
    `board_sensor`, `wall_meter`)."""
    device: dict
    features: dict = field(default_factory=lambda: {"gemm": [], "attention": []})
    timer: str = "wall"
    energy_source: str = "none"


@dataclass
class Reply:
    """A run's answer: the outputs' raw bits by role (each the shape and type the request names),
    each timed repetition's seconds, and the energy in joules where the device measures it."""
    outputs: dict
    samples_seconds: list
    energy_joules: Optional[float] = None


class Adapter:
    """Subclass and override `describe` and the run methods of the ops the device declares."""

    def describe(self) -> Description:
        raise NotImplementedError

    def gemm(self, request: RunRequest) -> Reply:
        raise NotSupported("this adapter runs no GEMM")

    def attention(self, request: RunRequest) -> Reply:
        raise NotSupported("this adapter runs no attention")

    def collective(self, request: RunRequest) -> Reply:
        raise NotSupported("this adapter runs no collective")

    def close(self) -> None:
        """Called at shutdown."""


def _hello_reply(adapter: Adapter, message: dict) -> dict:
    offered = message.get("protocols") or [message.get("protocol", 1)]
    version = max(v for v in offered if v in PROTOCOLS) if any(v in PROTOCOLS for v in offered) else 1
    d = adapter.describe()
    adapter._description = d  # what the run requests are held to
    reply = {"type": "hello", "protocol": version, "timer": d.timer, "energy_source": d.energy_source, "device": d.device}
    if version >= 2:
        reply["features"] = d.features
    return reply


def handle(adapter: Adapter, message: dict) -> dict:
    """One request's reply (never raises for a run: failures become `error` or `not_supported`)."""
    kind = message.get("type")
    if kind == "hello":
        return _hello_reply(adapter, message)
    case_id = message.get("id") if isinstance(message.get("id"), str) else ""
    if kind != "run":
        return {"type": "error", "id": case_id, "reason": f"unknown request type {kind!r}"}
    try:
        request = RunRequest.parse(message)
        if request.op == "gemm":
            # The harness sends only what was declared; a request that uses more is refused here,
            # so a run method never meets a feature it did not claim.
            description = getattr(adapter, "_description", None) or adapter.describe()
            declared = set(description.features.get("gemm", []))
            missing = [f for f in request.spec.features() if f not in declared]
            if missing:
                raise NotSupported(f"the adapter does not declare gemm feature {missing[0]}")
        reply = {"gemm": adapter.gemm, "attention": adapter.attention, "collective": adapter.collective}[request.op](request)
        for role, tf in request.outputs.items():
            if role not in reply.outputs:
                raise AdapterError(f"the adapter returned no output {role!r}")
            write_output(tf, reply.outputs[role])
        answer = {"type": "result", "id": case_id, "outputs": {role: tf.path for role, tf in request.outputs.items()},
                  "samples_seconds": [float(s) for s in reply.samples_seconds]}
        if reply.energy_joules is not None:
            answer["energy_joules"] = float(reply.energy_joules)
        return answer
    except NotSupported as e:
        return {"type": "not_supported", "id": case_id, "reason": str(e) or "not supported"}
    except Exception as e:  # noqa: BLE001 - every failure is the case's, never the loop's
        where = traceback.extract_tb(e.__traceback__)[-1]
        return {"type": "error", "id": case_id,
                "reason": f"{type(e).__name__}: {e} ({os.path.basename(where.filename)}:{where.lineno})"[:2000]}


def serve(adapter: Adapter, request_fd: int = REQUEST_FD, reply_fd: int = REPLY_FD) -> int:
    """The protocol loop: one JSON request per line on `request_fd`, one reply per line on
    `reply_fd`, until `shutdown` (exit status 0) or the end of the requests."""
    requests = os.fdopen(request_fd, "rb", buffering=0)
    buffer = b""
    try:
        while True:
            newline = buffer.find(b"\n")
            while newline < 0:
                if len(buffer) > MAX_MESSAGE:
                    print("systolic_adapter: a request longer than 1 MiB; stopping", file=sys.stderr)
                    return 1
                chunk = requests.read(1 << 16)
                if not chunk:
                    return 0
                buffer += chunk
                newline = buffer.find(b"\n")
            line, buffer = buffer[:newline], buffer[newline + 1:]
            try:
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ValueError("not an object")
            except ValueError as e:
                reply = {"type": "error", "id": "", "reason": f"unreadable request: {e}"}
            else:
                if message.get("type") == "shutdown":
                    adapter.close()
                    return 0
                reply = handle(adapter, message)
            data = (json.dumps(reply, separators=(",", ":"), allow_nan=False) + "\n").encode()
            view = memoryview(data)
            while view:
                view = view[os.write(reply_fd, view):]
    finally:
        requests.close()
