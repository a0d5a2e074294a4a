#!/usr/bin/env python3
"""Where the NVML sampler's memory goes: the process's RSS, anonymous RSS, threads and whether
libcuda is mapped after each NVML step the sampler takes (dlopen, nvmlInit_v2, the handles, the
device's utilization and memory, the compute processes, the per-process utilization), with
MALLOC_ARENA_MAX as the caller set it. Usage: nvml_memory.py [ROUNDS]"""
import ctypes
import os
import sys


def status():
    kib = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon", "RssFile", "Threads"):
            kib[k] = int(v.split()[0])
    maps = open("/proc/self/maps").read()
    anon_maps = sum(1 for l in maps.splitlines() if len(l.split()) == 5)
    return (f"rss {kib['VmRSS'] / 1024:6.1f} MiB  anon {kib['RssAnon'] / 1024:6.1f}  file {kib['RssFile'] / 1024:5.1f}  "
            f"threads {kib['Threads']:3d}  anon mappings {anon_maps:4d}  libcuda {'mapped' if 'libcuda.so' in maps else 'no'}")


rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
print(f"MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', '(unset)')}")
print(f"{'start':44s}", status())
nvml = ctypes.CDLL("libnvidia-ml.so.1")
print(f"{'dlopen libnvidia-ml.so.1':44s}", status())
assert nvml.nvmlInit_v2() == 0
print(f"{'nvmlInit_v2':44s}", status())
count = ctypes.c_uint()
nvml.nvmlDeviceGetCount_v2(ctypes.byref(count))
devs = []
for i in range(count.value):
    d = ctypes.c_void_p()
    nvml.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(d))
    devs.append(d)
print(f"{'handles (%d GPUs)' % count.value:44s}", status())


class MemV2(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("total", ctypes.c_ulonglong), ("reserved", ctypes.c_ulonglong),
                ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


class ProcInfo(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint), ("mem", ctypes.c_ulonglong), ("gi", ctypes.c_uint), ("ci", ctypes.c_uint)]


class ProcUtil(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint), ("ts", ctypes.c_ulonglong), ("sm", ctypes.c_uint), ("mem", ctypes.c_uint),
                ("enc", ctypes.c_uint), ("dec", ctypes.c_uint)]


util = (ctypes.c_uint * 2)()
for d in devs:
    nvml.nvmlDeviceGetUtilizationRates(d, util)
print(f"{'nvmlDeviceGetUtilizationRates':44s}", status())
mem = MemV2()
mem.version = ctypes.sizeof(MemV2) | (2 << 24)
for d in devs:
    nvml.nvmlDeviceGetMemoryInfo_v2(d, ctypes.byref(mem))
print(f"{'nvmlDeviceGetMemoryInfo_v2':44s}", status())
procs = (ProcInfo * 1024)()
n = ctypes.c_uint(1024)
for d in devs:
    n.value = 1024
    nvml.nvmlDeviceGetComputeRunningProcesses_v3(d, ctypes.byref(n), procs)
print(f"{'nvmlDeviceGetComputeRunningProcesses_v3':44s}", status())
samples = (ProcUtil * 1024)()
for d in devs:
    n.value = 1024
    rc = nvml.nvmlDeviceGetProcessUtilization(d, samples, ctypes.byref(n), ctypes.c_ulonglong(0))
print(f"{'nvmlDeviceGetProcessUtilization (rc %d, %d)' % (rc, n.value):44s}", status())
for _ in range(rounds):
    for d in devs:
        nvml.nvmlDeviceGetUtilizationRates(d, util)
        nvml.nvmlDeviceGetMemoryInfo_v2(d, ctypes.byref(mem))
        n.value = 1024
        nvml.nvmlDeviceGetComputeRunningProcesses_v3(d, ctypes.byref(n), procs)
        n.value = 1024
        nvml.nvmlDeviceGetProcessUtilization(d, samples, ctypes.byref(n), ctypes.c_ulonglong(0))
print(f"{'%d more rounds of all four' % rounds:44s}", status())
