#!/usr/bin/env python3
"""CPU time of each NVML call the watcher makes, while a training loop runs on GPU 0 (started by
the caller): each call repeated, timed by this process's CPU clock (time.process_time), so the
figure is what the sampler pays per call. Usage: nvml_call_cost.py [REPEATS]"""
import ctypes
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
nvml = ctypes.CDLL("libnvidia-ml.so.1")
assert nvml.nvmlInit_v2() == 0
dev = ctypes.c_void_p()
assert nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(dev)) == 0


class MemV2(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("total", ctypes.c_ulonglong), ("reserved", ctypes.c_ulonglong),
                ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


class ProcInfo(ctypes.Structure):  # nvmlProcessInfo_t (v2/v3 layout)
    _fields_ = [("pid", ctypes.c_uint), ("mem", ctypes.c_ulonglong), ("gi", ctypes.c_uint), ("ci", ctypes.c_uint)]


class ProcUtil(ctypes.Structure):  # nvmlProcessUtilizationSample_t
    _fields_ = [("pid", ctypes.c_uint), ("ts", ctypes.c_ulonglong), ("sm", ctypes.c_uint), ("mem", ctypes.c_uint),
                ("enc", ctypes.c_uint), ("dec", ctypes.c_uint)]


util = (ctypes.c_uint * 2)()
mem = MemV2()
mem.version = ctypes.sizeof(MemV2) | (2 << 24)
procs = (ProcInfo * 1024)()
samples = (ProcUtil * 1024)()


def compute_procs():
    n = ctypes.c_uint(1024)
    rc = nvml.nvmlDeviceGetComputeRunningProcesses_v3(dev, ctypes.byref(n), procs)
    return rc, n.value


def proc_util():
    # As the sampler asks: the samples since one second ago (a timestamp of 0 makes the driver
    # return its whole buffer, the costly case).
    n = ctypes.c_uint(1024)
    since = int(time.time() * 1e6) - 1_000_000
    rc = nvml.nvmlDeviceGetProcessUtilization(dev, samples, ctypes.byref(n), ctypes.c_ulonglong(since))
    return rc, n.value


def proc_util_all():
    n = ctypes.c_uint(1024)
    rc = nvml.nvmlDeviceGetProcessUtilization(dev, samples, ctypes.byref(n), ctypes.c_ulonglong(0))
    return rc, n.value


calls = [
    ("nvmlDeviceGetUtilizationRates", lambda: (nvml.nvmlDeviceGetUtilizationRates(dev, util), 1)),
    ("nvmlDeviceGetMemoryInfo_v2", lambda: (nvml.nvmlDeviceGetMemoryInfo_v2(dev, ctypes.byref(mem)), 1)),
    ("nvmlDeviceGetComputeRunningProcesses_v3", compute_procs),
    ("nvmlDeviceGetProcessUtilization (last 1 s)", proc_util),
    ("nvmlDeviceGetProcessUtilization (since 0)", proc_util_all),
]
for name, f in calls:
    rc, count = f()
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(N):
        f()
    c1, w1 = time.process_time(), time.perf_counter()
    print(f"{name:44s} CPU {1e6 * (c1 - c0) / N:9.1f} us/call   wall {1e6 * (w1 - w0) / N:9.1f} us/call"
          f"   ({N} calls; first: return {rc}, {count} entries)")
