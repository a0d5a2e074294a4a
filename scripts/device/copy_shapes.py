#!/usr/bin/env python3
"""Times the probe's own copy kernels (the PTX text of src/probe/ptx.cpp, loaded through CuPy's
driver module API) at several grid shapes, beside cudaMemcpyAsync (CuPy) and PyTorch's
dst.copy_(src), on the same 1 GiB buffers: which shape reaches what the card and PyTorch reach.
Usage: copy_shapes.py [PTX_CPP] ; prints one line per shape, GB/s counting bytes read + written."""
import ctypes
import re
import statistics
import sys
from pathlib import Path

import cupy as cp

src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "src/probe/ptx.cpp")
ptx = re.search(r'R"PTX\((.*?)\)PTX"', src.read_text(), re.S).group(1)
mod = cp.cuda.function.Module()
mod.load(ptx.encode())
BYTES = 1 << 30
N16 = BYTES // 16
REPS, WARM = 20, 3
dev = cp.cuda.Device(0)
sms = dev.attributes["MultiProcessorCount"]
print(f"GPU {cp.cuda.runtime.getDeviceProperties(0)['name'].decode()}, {sms} SMs")
a = cp.random.random(BYTES // 4, dtype=cp.float32)
b = cp.empty_like(a)


def time(fn):
    for _ in range(WARM):
        fn()
    ev = [(cp.cuda.Event(), cp.cuda.Event()) for _ in range(REPS)]
    for s, e in ev:
        s.record()
        fn()
        e.record()
    ev[-1][1].synchronize()
    ms = statistics.median(cp.cuda.get_elapsed_time(s, e) for s, e in ev)
    return 2 * BYTES / (ms * 1e-3) / 1e9


rows = []
rows.append(("cudaMemcpyAsync (cupy b[...] = a)", time(lambda: cp.cuda.runtime.memcpyAsync(
    b.data.ptr, a.data.ptr, BYTES, cp.cuda.runtime.memcpyDeviceToDevice, cp.cuda.get_current_stream().ptr))))
for name in ("gd_copy", "gd_copy4", "gd_copy4cs"):
    f = mod.get_function(name)
    for per_sm in (1, 2, 4, 8, 16, 32):
        grid = sms * per_sm
        args = (b, a, cp.uint64(N16))
        rows.append((f"{name} {per_sm}/SM x 256", time(lambda: f((grid,), (256,), args))))
        assert bool((b == a).all()), name
try:
    import torch
    ta = torch.rand(BYTES // 4, device="cuda:0")
    tb = torch.empty_like(ta)
    for _ in range(WARM):
        tb.copy_(ta)
    torch.cuda.synchronize()
    evs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(REPS)]
    for s, e in evs:
        s.record()
        tb.copy_(ta)
        e.record()
    torch.cuda.synchronize()
    ms = statistics.median(s.elapsed_time(e) for s, e in evs)
    rows.append((f"torch {torch.__version__} dst.copy_(src)", 2 * BYTES / (ms * 1e-3) / 1e9))
except Exception as exc:  # torch missing: the rest still stands
    print("torch:", exc)
best = max(r[1] for r in rows)
for name, gbs in rows:
    print(f"{name:40s} {gbs:8.1f} GB/s  {gbs / best * 100:5.1f}%")
