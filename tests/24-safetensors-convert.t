#!/usr/bin/python3
# F16 and BF16 conversions of st.c against NumPy (float16) and PyTorch (bfloat16):
# every 16-bit pattern widened, and float32 values narrowed with round-to-nearest-even
# (ties, subnormals, overflow to infinity, NaN) bit for bit.
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
from tap import UNIT, ok, done, diag  # noqa: E402

rng = np.random.default_rng(2)
bits = np.arange(65536, dtype=np.uint32)
# float32 inputs: random bit patterns, every half and bf16 value and the midpoints
# between neighbours (the ties), just above and below them, and the specials
halves = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)
finite = np.sort(halves[np.isfinite(halves)])
mids = (finite[:-1].astype(np.float64) + finite[1:]) / 2
bfs = (bits << 16).view(np.float32)
bf_finite = np.sort(bfs[np.isfinite(bfs)]).astype(np.float64)
bf_mids = (bf_finite[:-1] + bf_finite[1:]) / 2
specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504, 65519.996, 65520, 65536, 1e30, -1e30,
                     2**-24, 2**-25, 2**-25 * 1.0000001, 3 * 2**-26, 6.1035156e-05, 6.097555e-05,
                     3.4028235e38, 1.1754944e-38, 1e-45], np.float64)
x = np.concatenate([rng.integers(0, 2**32, 200000, dtype=np.uint64).astype(np.uint32).view(np.float32),
                    halves, mids.astype(np.float32), np.nextafter(mids.astype(np.float32), np.float32(np.inf)),
                    np.nextafter(mids.astype(np.float32), np.float32(-np.inf)),
                    bfs, bf_mids.astype(np.float32), specials.astype(np.float32)]).astype(np.float32)

p = subprocess.run([os.path.join(UNIT, "st_convert")], input=x.tobytes(), stdout=subprocess.PIPE, timeout=300)
ok(p.returncode == 0, "st_convert runs")
out = p.stdout
narrow = np.frombuffer(out[:4 * len(x)], np.uint16).reshape(-1, 2)
wide = np.frombuffer(out[4 * len(x):], np.float32).reshape(-1, 2)
ok(narrow.shape[0] == len(x) and wide.shape[0] == 65536, "st_convert wrote %d + 65536 rows" % narrow.shape[0])


def compare(got_bits, want_bits, values, what):
    got_nan = np.isnan(values_of(got_bits, what))
    want_nan = np.isnan(values_of(want_bits, what))
    bad = np.flatnonzero((got_bits != want_bits) & ~(got_nan & want_nan))
    nan_ok = np.array_equal(got_nan, want_nan)
    if len(bad):
        for i in bad[:5]:
            diag("%s(%r = 0x%08x): got 0x%04x, wanted 0x%04x" % (what, float(values[i]),
                 int(values[i:i + 1].view(np.uint32)[0]), got_bits[i], want_bits[i]))
    ok(len(bad) == 0 and nan_ok, "%s rounds %d float32 values like the peer (%d differ)" % (what, len(values), len(bad)))


def values_of(b, what):
    return b.view(np.float16).astype(np.float32) if what == "f32->f16" else \
        (b.astype(np.uint32) << 16).view(np.float32)


with np.errstate(over="ignore", invalid="ignore"):
    want16 = x.astype(np.float16).view(np.uint16)
compare(narrow[:, 0].copy(), want16, x, "f32->f16")

try:
    import torch
    want_bf = torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    compare(narrow[:, 1].copy(), want_bf, x, "f32->bf16")
    torch_bf = torch.from_numpy(bits.astype(np.uint16).view(np.int16).copy()).view(torch.bfloat16).float().numpy()
except ImportError:
    ok(False, "PyTorch (python3-torch) is there as the BF16 peer")
    torch_bf = (bits << 16).view(np.float32)

want_h = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)
same_h = (wide[:, 0].view(np.uint32) == want_h.view(np.uint32)) | (np.isnan(wide[:, 0]) & np.isnan(want_h))
ok(same_h.all(), "F16 -> f32 for all 65536 patterns, bit for bit (%d differ)" % (~same_h).sum())
same_b = (wide[:, 1].view(np.uint32) == torch_bf.view(np.uint32)) | (np.isnan(wide[:, 1]) & np.isnan(torch_bf))
ok(same_b.all(), "BF16 -> f32 for all 65536 patterns, bit for bit (%d differ)" % (~same_b).sum())
nan_sign = np.signbit(wide[:, 0]) == np.signbit(want_h)
ok(nan_sign.all(), "F16 -> f32 keeps the sign of NaN too (%d differ)" % (~nan_sign).sum())

done()
