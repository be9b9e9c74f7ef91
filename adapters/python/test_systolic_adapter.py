"""Tests of the Python adapter kit, without Swift: `python3 -m unittest discover -s adapters/python`.

The conversions against the shared vectors of an independent implementation (ml_dtypes, in
Tests/Fixtures/vectors), every code of every format round-tripped, and the protocol loop driven
over real fd-3/fd-4 pipes against the numpy example adapter: handshake, a GEMM checked against
numpy, an unknown and a malformed request, an output that is a link or of the wrong size, shutdown.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import systolic_adapter as kit  # noqa: E402

VECTORS = os.path.join(HERE, "..", "..", "Tests", "Fixtures", "vectors")


def rows(name):
    with open(os.path.join(VECTORS, name)) as f:
        return [[int(x, 16) for x in line.strip().split(",")] for line in f if line.strip() and not line.startswith("#")]


class Conversions(unittest.TestCase):
    def test_fp8_decode_equals_the_shared_vectors(self):
        table = rows("fp8-decode.csv")
        self.assertEqual(len(table), 256)
        codes = np.array([r[0] for r in table], np.uint8)
        for column, name in ((1, "fp8_e4m3"), (2, "fp8_e5m2")):
            expected = np.array([r[column] for r in table], np.uint32).view(np.float32).astype(np.float64)
            got = kit.decode(codes, name)
            same = (got == expected) | (np.isnan(got) & np.isnan(expected))
            self.assertTrue(same.all(), f"{name}: codes {codes[~same][:5]} decode to {got[~same][:5]}, expected {expected[~same][:5]}")

    def test_encode_equals_the_shared_vectors_in_both_overflow_modes(self):
        table = np.array(rows("encode.csv"), np.uint64)
        self.assertGreater(len(table), 20000)
        values = table[:, 0].astype(np.uint32).view(np.float32).astype(np.float64)
        for column, name, mode in ((1, "bf16", "ieee"), (2, "bf16", "saturate"), (3, "fp16", "ieee"), (4, "fp16", "saturate"),
                                   (5, "fp8_e4m3", "ieee"), (6, "fp8_e4m3", "saturate"), (7, "fp8_e5m2", "ieee"),
                                   (8, "fp8_e5m2", "saturate")):
            expected = kit.decode(table[:, column].astype(kit.TYPES[name].raw), name)
            got = kit.decode(kit.encode(values, name, mode), name)
            same = (got == expected) & (np.signbit(got) == np.signbit(expected)) | (np.isnan(got) & np.isnan(expected))
            self.assertTrue(same.all(), f"{name} {mode}: {values[~same][:3]} encode to {got[~same][:3]}, expected {expected[~same][:3]}")

    def test_every_code_round_trips(self):
        for name in ("fp16", "bf16", "fp8_e4m3", "fp8_e5m2"):
            width = kit.TYPES[name].width * 8
            codes = np.arange(1 << width, dtype=np.uint64).astype(kit.TYPES[name].raw)
            values = kit.decode(codes, name)
            back = kit.encode(values, name, "ieee")
            finite = ~np.isnan(values)
            self.assertTrue((back[finite] == codes[finite]).all(), name)
            self.assertTrue(np.isnan(kit.decode(back[~finite], name)).all(), name)

    def test_ties_go_to_even_and_overflow_follows_the_mode(self):
        # 1 + 2^-8 is halfway between bf16's 1 and 1 + 2^-7: even is 1. 1 + 3·2^-8 goes up to 1 + 2^-6.
        self.assertEqual(list(kit.decode(kit.encode([1 + 2 ** -8, 1 + 3 * 2 ** -8], "bf16"), "bf16")), [1.0, 1 + 2 ** -6])
        self.assertEqual(kit.decode(kit.encode([464.0], "fp8_e4m3", "saturate"), "fp8_e4m3")[0], 448.0)
        # 464 is the tie between 448 (even) and 480, which E4M3 spends on NaN: it rounds to 448.
        self.assertEqual(kit.decode(kit.encode([464.0], "fp8_e4m3", "ieee"), "fp8_e4m3")[0], 448.0)
        self.assertTrue(np.isnan(kit.decode(kit.encode([465.0], "fp8_e4m3", "ieee"), "fp8_e4m3")[0]))
        self.assertEqual(kit.decode(kit.encode([-1e6], "fp16", "ieee"), "fp16")[0], -np.inf)
        self.assertEqual(kit.decode(kit.encode([np.inf], "fp32", "saturate"), "fp32")[0], float(np.finfo(np.float32).max))
        self.assertEqual(list(kit.encode([300, -300, 2.5], "int8")), [127, -128, 2])

    def test_largest_finite(self):
        self.assertEqual([kit.largest_finite(t) for t in ("fp8_e4m3", "fp8_e5m2", "fp16")], [448.0, 57344.0, 65504.0])


class NarrowFormats(unittest.TestCase):
    """fp4, fp6, E8M0 and int4 (docs/formats.md) against the shared narrow vectors, every row."""

    def test_every_code_decodes_as_the_vectors_say(self):
        with open(os.path.join(VECTORS, "narrow-decode.csv")) as f:
            table = [line.strip().split(",") for line in f if line.strip() and not line.startswith("#")]
        self.assertEqual(len(table), 16 + 64 + 64 + 256)
        for name, code, bits in table:
            expected = np.array([int(bits, 16)], np.uint32).view(np.float32).astype(np.float64)[0]
            codes = np.array([int(code, 16)], np.uint8)
            got = kit.decode_e8m0(codes)[0] if name == "e8m0" else kit.decode_narrow(codes, name)[0]
            self.assertTrue(got == expected or (np.isnan(got) and np.isnan(expected)), f"{name} {code}: {got} != {expected}")

    def test_encode_equals_the_vectors_saturating(self):
        table = np.array(rows("narrow-encode.csv"), np.uint64)
        self.assertGreater(len(table), 15000)
        values = table[:, 0].astype(np.uint32).view(np.float32).astype(np.float64)
        for column, name in ((1, "e2m1"), (2, "e2m3"), (3, "e3m2")):
            got = kit.encode_narrow(values, name)
            expected = table[:, column].astype(np.uint8)
            wrong = got != expected
            self.assertFalse(wrong.any(), f"{name}: {values[wrong][:3]} encode to {got[wrong][:3]}, expected {expected[wrong][:3]}")

    def test_the_protocol_types_use_the_same_codecs(self):
        for name, short in (("fp4_e2m1", "e2m1"), ("fp6_e2m3", "e2m3"), ("fp6_e3m2", "e3m2")):
            codes = np.arange(16 if short == "e2m1" else 64, dtype=np.uint8)
            self.assertTrue((kit.decode(codes, name) == kit.decode_narrow(codes, short)).all())
            self.assertTrue((kit.encode(kit.decode(codes, name), name, "ieee") == codes).all(), name)
        self.assertEqual(kit.decode(kit.encode([100.0], "fp4_e2m1", "ieee"), "fp4_e2m1")[0], 6.0)

    def test_int4_packs_low_nibble_first(self):
        self.assertEqual(list(kit.pack_int4([1, -1])), [0xF1])
        self.assertEqual(list(kit.unpack_int4(kit.pack_int4(range(-8, 8)), 16)), list(range(-8, 8)))
        with self.assertRaises(ValueError):
            kit.pack_int4([8])


class BlockQuantization(unittest.TestCase):
    """kit.quantize_blocks against docs/formats.md's worked cases (the fingerprint's probes)."""

    def test_int4_tensor_files_are_read_two_per_byte(self):
        values = [-8, 7, -1, 0, 5]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "b.bin")
            kit.pack_int4(values).tofile(path)
            tf = kit.TensorFile(path, "int4", (1, 5))
            self.assertEqual(tf.bytes, 3)
            self.assertEqual(list(kit.decode(kit.read_tensor(tf), "int4").reshape(-1)), values)
            self.assertEqual(list(kit.decode(kit.read_tensor(kit.TensorFile(path, "uint4", (1, 5))), "uint4").reshape(-1)),
                             [8, 7, 15, 0, 5])
            with self.assertRaises(kit.AdapterError):
                kit.read_tensor(kit.TensorFile(path, "int4", (1, 7)))

    def test_mx_scale_roundings(self):
        row = np.zeros((2, 32))
        row[0, 0], row[1, 0] = 1.9, 1.99
        expected = {"floor": (1.75, 1.75), "rceil": (1.875, 2.0), "even": (1.75, 2.0)}
        for rounding, (first, second) in expected.items():
            elements, scales, tensor = kit.quantize_blocks(row, "fp8_e4m3", "mx", rounding)
            values = elements[:, 0] * scales[:, 0]
            self.assertEqual((values[0], values[1]), (first, second), rounding)
            self.assertEqual(tensor, 1.0)

    def test_nvfp4_scale_roundings(self):
        row = np.zeros((1, 32))
        row[0, 0], row[0, 16] = 582, 2688   # tensor scale 1, the first block's exact scale 97
        for rounding, value in (("nearest", 576.0), ("up", 624.0)):
            elements, scales, tensor = kit.quantize_blocks(row, "fp4_e2m1", "nvfp4", rounding)
            self.assertEqual(tensor, 1.0)
            self.assertEqual(elements[0, 0] * scales[0, 0] * tensor, value, rounding)
            self.assertEqual(elements[0, 16] * scales[0, 1] * tensor, 2688.0)

    def test_special_and_zero_blocks(self):
        row = np.zeros((1, 64))
        row[0, :3] = [1, np.nan, 2]
        elements, scales, _ = kit.quantize_blocks(row, "fp4_e2m1", "mx", "floor")
        self.assertTrue(np.isnan(scales[0, 0]))
        self.assertEqual(list(elements[0, :3]), [2.0, 0.0, 4.0])   # what 1, 0, 2 give under 2^-1
        self.assertEqual(scales[0, 1], 2.0 ** -127)                 # the all-zero block
        self.assertTrue((elements[0, 32:] == 0).all())


class Operands(unittest.TestCase):
    def test_paged_cache_is_gathered_and_the_causal_mask_aligns_bottom_right(self):
        with tempfile.TemporaryDirectory() as d:
            def tensor(role, type_, array):
                path = os.path.join(d, role)
                array.tofile(path)
                return {"path": path, "type": type_, "shape": list(array.shape)}
            # Two sequences of lengths 3 and 5 in pages of 2; page p holds positions 2p, 2p+1.
            k = np.arange(6 * 2 * 1 * 1, dtype=np.float32).reshape(6, 2, 1, 1)
            table = np.array([[4, 1, -1], [0, 5, 2]], np.int32)
            message = {"type": "run", "id": "x", "op": "attention",
                       "attention": {"batch": 2, "heads": 1, "kv_heads": 1, "head_dim": 1, "q_len": 2, "kv_lens": [3, 5],
                                     "causal": True, "scale": 1.0, "input": "fp32", "kv": "fp32", "accumulate": "fp32",
                                     "p": "fp32", "output": "fp32", "k_scale": 1.0, "v_scale": 1.0, "kv_layout": "paged",
                                     "page_size": 2, "overflow": "saturate"},
                       "inputs": {"q": tensor("q", "fp32", np.zeros((2, 1, 2, 1), np.float32)),
                                  "k": tensor("k", "fp32", k), "v": tensor("v", "fp32", k),
                                  "page_table": tensor("page_table", "int32", table)},
                       "outputs": {}}
            ops = kit.attention_operands(kit.RunRequest.parse(message))
            gathered = kit.decode(ops.k, "fp32")[:, 0, :, 0]
            self.assertEqual(list(gathered[0]), [8, 9, 2, 0, 0])           # pages 4, 1; past length 3 zeroed
            self.assertEqual(list(gathered[1]), [0, 1, 10, 11, 4])          # pages 0, 5, 2
            self.assertEqual(ops.visible[0].tolist(), [[True, True, False, False, False], [True, True, True, False, False]])
            self.assertEqual(ops.visible[1, 1].tolist(), [True] * 5)

    def test_time_repeats_meets_both_minimums(self):
        calls = []
        _, samples = kit.time_repeats(lambda: calls.append(1), kit.Timing(warmup=2, min_repeats=3, min_seconds=0))
        self.assertEqual((len(calls), len(samples)), (5, 3))


class ProtocolLoop(unittest.TestCase):
    """The example adapter as the harness runs it: requests on its fd 3, replies on its fd 4."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        request_read, self.request_write = os.pipe()
        self.reply_read, reply_write = os.pipe()
        os.dup2(request_read, 3 + 100)  # moved into place in the child by pass_fds and a wrapper
        script = ("import os, runpy, sys; os.dup2(103, 3); os.dup2(104, 4); os.close(103); os.close(104); "
                  f"sys.argv = [{os.path.join(HERE, 'example_numpy_adapter.py')!r}]; runpy.run_path(sys.argv[0], run_name='__main__')")
        os.dup2(reply_write, 104)
        self.process = subprocess.Popen([sys.executable, "-c", script], pass_fds=(103, 104), stdin=subprocess.DEVNULL)
        for fd in (request_read, reply_write, 103, 104):
            os.close(fd)
        self.replies = os.fdopen(self.reply_read, "rb")

    def tearDown(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        os.close(self.request_write)
        self.replies.close()
        self.dir.cleanup()

    def ask(self, message):
        os.write(self.request_write, (json.dumps(message) + "\n").encode() if isinstance(message, dict) else message)
        return json.loads(self.replies.readline())

    def tensor(self, role, type_, array, create=True):
        self.files = getattr(self, "files", 0) + 1
        path = os.path.join(self.dir.name, f"{role}-{self.files}")
        if create:
            array.tofile(path)
        return {"path": path, "type": type_, "shape": list(array.shape)}

    def gemm_request(self, a, b, output_file=True):
        out = np.zeros((1, a.shape[1], b.shape[2]), np.float32)
        return {"type": "run", "id": "gemm/t", "op": "gemm",
                "gemm": {"m": a.shape[1], "n": b.shape[2], "k": a.shape[2], "batch": 1, "a": "fp32", "b": "fp32",
                         "accumulate": "fp32", "output": "fp32", "layout_b": "kn", "overflow": "saturate"},
                "inputs": {"a": self.tensor("a", "fp32", a), "b": self.tensor("b", "fp32", b)},
                "outputs": {"c": self.tensor("c", "fp32", out, create=output_file)},
                "timing": {"warmup": 0, "min_repeats": 2, "min_seconds": 0}}

    def test_a_session(self):
        hello = self.ask({"type": "hello", "protocol": 1, "protocols": [1, 2], "harness": "systolic-bench"})
        self.assertEqual((hello["type"], hello["protocol"]), ("hello", 2))
        self.assertIn("bias", hello["features"]["gemm"])
        rng = np.random.default_rng(1)
        a = rng.integers(-8, 8, (1, 5, 7)).astype(np.float32)
        b = rng.integers(-8, 8, (1, 7, 3)).astype(np.float32)
        reply = self.ask(self.gemm_request(a, b))
        self.assertEqual(reply["type"], "result", reply)
        self.assertEqual(len(reply["samples_seconds"]), 2)
        got = np.fromfile(reply["outputs"]["c"], np.float32).reshape(1, 5, 3)
        self.assertTrue((got == a @ b).all())
        self.assertEqual(self.ask({"type": "mystery", "id": "q"})["type"], "error")
        self.assertEqual(self.ask(b"{not json\n")["type"], "error")
        bad = self.gemm_request(a, b)
        del bad["gemm"]["m"]
        self.assertIn("missing member 'm'", self.ask(bad)["reason"])
        # An output that does not exist is never created; one replaced by a link is never followed.
        missing = self.gemm_request(a, b, output_file=False)
        self.assertEqual(self.ask(missing)["type"], "error")
        self.assertFalse(os.path.exists(missing["outputs"]["c"]["path"]))
        target = os.path.join(self.dir.name, "elsewhere")
        np.zeros(15, np.float32).tofile(target)
        linked = self.gemm_request(a, b, output_file=False)
        os.symlink(target, linked["outputs"]["c"]["path"])
        self.assertEqual(self.ask(linked)["type"], "error")
        self.assertTrue((np.fromfile(target, np.float32) == 0).all())
        short = self.gemm_request(a, b)
        np.zeros(2, np.float32).tofile(short["outputs"]["c"]["path"])
        self.assertIn("not a regular file of 60 bytes", self.ask(short)["reason"])
        unsupported = self.gemm_request(a, b)
        unsupported["gemm"]["requantization"] = {"scheme": "fp32_scale", "per_channel": False}
        self.assertEqual(self.ask(unsupported)["type"], "not_supported")
        os.write(self.request_write, b'{"type": "shutdown"}\n')
        self.assertEqual(self.process.wait(timeout=10), 0)


if __name__ == "__main__":
    unittest.main()
