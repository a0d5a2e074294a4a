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
procs = (ProcInfo * 64)()
samples = (ProcUtil * 64)()


def compute_procs():
    n = ctypes.c_uint(64)
    nvml.nvmlDeviceGetComputeRunningProcesses_v3(dev, ctypes.byref(n), procs)


def proc_util():
    n = ctypes.c_uint(64)
    nvml.nvmlDeviceGetProcessUtilization(dev, samples, ctypes.byref(n), ctypes.c_ulonglong(0))


calls = [
    ("nvmlDeviceGetUtilizationRates", lambda: nvml.nvmlDeviceGetUtilizationRates(dev, util)),
    ("nvmlDeviceGetMemoryInfo_v2", lambda: nvml.nvmlDeviceGetMemoryInfo_v2(dev, ctypes.byref(mem))),
    ("nvmlDeviceGetComputeRunningProcesses_v3", compute_procs),
    ("nvmlDeviceGetProcessUtilization", proc_util),
]
for name, f in calls:
    f()
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(N):
        f()
    c1, w1 = time.process_time(), time.perf_counter()
    print(f"{name:42s} CPU {1e6 * (c1 - c0) / N:9.1f} us/call   wall {1e6 * (w1 - w0) / N:9.1f} us/call   ({N} calls)")
