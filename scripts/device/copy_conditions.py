#!/usr/bin/env python3
"""Why the probe's device copy reads lower than the same copy in CuPy: cudaMemcpyAsync of 1 GiB
timed as the probe times it, under the conditions the probe differs in: right after most of the
memory was allocated, written and freed (the probe's step before), and with a thread asking NVML
for clocks, temperature, power, clock-event reasons and utilization every 20 ms (the probe's
telemetry under load). GB/s count bytes read + written."""
import ctypes
import statistics
import threading
import time

import cupy as cp

BYTES = 1 << 30
REPS, WARM = 20, 2


def rate(src, dst):
    s = cp.cuda.get_current_stream()
    f = lambda: cp.cuda.runtime.memcpyAsync(dst.data.ptr, src.data.ptr, BYTES, cp.cuda.runtime.memcpyDeviceToDevice, s.ptr)
    for _ in range(WARM):
        f()
    ev = [(cp.cuda.Event(), cp.cuda.Event()) for _ in range(REPS)]
    for a, b in ev:
        a.record(); f(); b.record()
    ev[-1][1].synchronize()
    return 2 * BYTES / (statistics.median(cp.cuda.get_elapsed_time(a, b) for a, b in ev) * 1e-3) / 1e9


nvml = ctypes.CDLL("libnvidia-ml.so.1")
nvml.nvmlInit_v2()
dev = ctypes.c_void_p()
nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(dev))
stop = False


def poll():
    v = ctypes.c_uint()
    r = ctypes.c_ulonglong()
    u = (ctypes.c_uint * 2)()
    n = 0
    while not stop:
        time.sleep(0.02)
        nvml.nvmlDeviceGetClockInfo(dev, 1, ctypes.byref(v))
        nvml.nvmlDeviceGetTemperature(dev, 0, ctypes.byref(v))
        nvml.nvmlDeviceGetPowerUsage(dev, ctypes.byref(v))
        nvml.nvmlDeviceGetCurrentClocksEventReasons(dev, ctypes.byref(r))
        nvml.nvmlDeviceGetUtilizationRates(dev, u)
        n += 1
    print(f"  (NVML polled {n} times)")


pool = cp.get_default_memory_pool()
a = cp.random.random(BYTES // 4, dtype=cp.float32)
b = cp.empty_like(a)
print(f"fresh buffers:                      {rate(a, b):7.1f} GB/s")
print(f"again:                              {rate(a, b):7.1f} GB/s")
t = threading.Thread(target=poll)
t.start()
print(f"with NVML polled every 20 ms:       {rate(a, b):7.1f} GB/s")
stop = True
t.join()
del a, b
pool.free_all_blocks()
free, total = cp.cuda.runtime.memGetInfo()
big = cp.cuda.runtime.malloc(free - max(256 << 20, total // 50) - (3 << 30))
cp.cuda.runtime.memset(big, 0x5A, free - max(256 << 20, total // 50) - (3 << 30))
cp.cuda.runtime.deviceSynchronize()
cp.cuda.runtime.free(big)
a = cp.random.random(BYTES // 4, dtype=cp.float32)
b = cp.empty_like(a)
print(f"after most memory allocated+freed:  {rate(a, b):7.1f} GB/s")
raw_a = cp.cuda.runtime.malloc(BYTES)
raw_b = cp.cuda.runtime.malloc(BYTES)
cp.cuda.runtime.memcpy(raw_a, a.data.ptr, BYTES, cp.cuda.runtime.memcpyDeviceToDevice)
ua = cp.ndarray((BYTES // 4,), cp.float32, cp.cuda.MemoryPointer(cp.cuda.UnownedMemory(raw_a, BYTES, None), 0))
ub = cp.ndarray((BYTES // 4,), cp.float32, cp.cuda.MemoryPointer(cp.cuda.UnownedMemory(raw_b, BYTES, None), 0))
print(f"plain cudaMalloc buffers:           {rate(ua, ub):7.1f} GB/s")
print(f"pool buffers again:                 {rate(a, b):7.1f} GB/s")
