#!/usr/bin/env python3
"""Why PyTorch's float32 GELU (erf form) fails `gelu-erf-steep-region-fp32` on a CPU.

docs/numerics.md (Epilogues) allows a GELU output 2^-21 of its value plus 2^-23·|y| beyond the
exact GELU of the interval its input can take: an fp32 erf near -1 rounded within about an ulp.
torch.nn.functional.gelu(approximate="none") on a CPU evaluates 0.5·y·(1 + erf(y/√2)) in float32;
where erf(y/√2) is near -1, 1 + erf cancels and the result keeps the absolute error of the
kernel's own erf evaluation (torch.erf on the same values is accurate: it is GELU's kernel). This
sweeps y over the negative tail, where the case's data lie, and prints the worst element beside the
allowance and torch's erf error there, in ulps of 1 (numpy and the standard library's erfc as the
exact reference, in binary64).
"""
import math

import numpy as np
import torch

y = np.linspace(-6.0, -0.5, 200001, dtype=np.float32)
device = torch.nn.functional.gelu(torch.from_numpy(y)).numpy().astype(np.float64)
yd = y.astype(np.float64)
exact = np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) for v in yd])
allowed = 2.0 ** -21 * np.abs(exact) + 2.0 ** -23 * np.abs(yd) + np.spacing(np.abs(exact).astype(np.float32)) / 2
ratio = np.abs(device - exact) / allowed
i = int(np.argmax(ratio))
# erf over the whole sweep (torch's vectorised kernel, as GELU's), then the worst element's.
erf_all = torch.erf(torch.from_numpy(y) * np.float32(1 / math.sqrt(2))).numpy()
erf_device = float(erf_all[i])
erf_exact = math.erf(float(np.float32(y[i] * np.float32(1 / math.sqrt(2)))))
print(f"torch {torch.__version__}: worst y = {y[i]!r}: gelu {device[i]!r}, exact {exact[i]!r}, "
      f"error {abs(device[i] - exact[i]):.3g}, allowed {allowed[i]:.3g} (ratio {ratio[i]:.2f})")
implied = abs(device[i] - exact[i]) / (0.5 * abs(float(y[i])))
print(f"  the GELU's error is that of 1 + erf(y/√2) off by {implied:.3g} ({implied / 2 ** -24:.0f} ulps of values just below 1), "
      f"while torch.erf alone is within {abs(erf_device - erf_exact) / 2 ** -24:.1f} ulp there: the GELU kernel evaluates erf its own way")
print(f"elements of the sweep beyond the allowance: {int((ratio > 1).sum())} of {len(y)}")
