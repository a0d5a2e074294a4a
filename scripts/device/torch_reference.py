#!/usr/bin/env python3
"""PyTorch reference numbers for `gpudoctor probe` (run on the GPU machine).

This is the reference side of the probe comparison in bench/RESULTS.md: it measures with PyTorch
the same things the native `gpudoctor probe` measures, with the same sizes and the same way of
counting, so the two can be put side by side on one machine:

  * device-to-device copy bandwidth per GPU: `dst.copy_(src)`, 1 GiB of random float32,
    3 warm-ups, median of 20 timed with CUDA events; GB/s = 2 x size / time (read + write), 1 GB = 1e9 B;
  * host-to-device and device-to-host bandwidth per GPU, 1 GiB pinned host buffer (pin_memory=True),
    `copy_(..., non_blocking=True)`, median of 10; GB/s = size / time;
  * dense matrix product per GPU, torch.matmul 8192 x 8192 by 8192 x 8192, random inputs, 3 input
    sets rotated, median of 20 (fp32: 5); TFLOP/s = 2 n^3 / time; bf16, fp16, tf32 (float32 inputs,
    torch.backends.cuda.matmul.allow_tf32 = True) and fp32 (allow_tf32 = False);
  * peer access matrix (torch.cuda.can_device_access_peer) and peer-to-peer copy bandwidth for each
    ordered pair (src on GPU i, dst on GPU j, 1 GiB, median of 10); GB/s = size / time (bytes moved
    across the link once);
  * with 2+ GPUs, NCCL all-reduce through torch.distributed, one process per GPU, float32 sum of
    1 MiB, 64 MiB and 1 GiB, 5 warm-ups, median of 20 per rank, averaged over ranks (nccl-tests'
    default); algbw = size / time, busbw = algbw x 2(n-1)/n (nccl-tests' definition); the sum is
    checked (rank r contributes r+1, every element must equal n(n+1)/2).

NVLink multicast stays off (this machine's policy): NCCL_NVLS_ENABLE=0,
TORCH_SYMM_MEM_DISABLE_MULTICAST=1 and NVSHMEM_DISABLE_NVLS=1 are set (unless already set) before
torch is imported, and the all-reduce children inherit them.

Run (Python 3, PyTorch with CUDA, no network needed):

    python3 scripts/device/torch_reference.py                       # all visible GPUs, table only
    python3 scripts/device/torch_reference.py --json torch-ref.json # also write every number as JSON
    python3 scripts/device/torch_reference.py --gpus 2              # only the first 2 visible GPUs
    python3 scripts/device/torch_reference.py --skip p2p,allreduce  # leave sections out

Sections: copy, h2d (host-to-device and device-to-host), matmul, p2p, allreduce. Each one is
guarded: an error is printed, recorded under "errors" in the JSON, and the run goes on. The
whole run takes well under 3 minutes on 8 H100/H200. The host buffer for h2d/d2h is not pinned to
the GPU's NUMA node, so on multi-socket hosts the numbers of GPUs on the far socket can be lower.
"""
import os

# Machine policy: NVLink multicast must stay off. Set before torch (and NCCL) is loaded; the
# all-reduce children are started with this environment (and re-run this at their import).
os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
os.environ.setdefault("NVSHMEM_DISABLE_NVLS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import torch  # noqa: E402

GIB = 1 << 30
MIB = 1 << 20
GB = 1e9

COPY_BYTES = GIB
COPY_WARMUP, COPY_REPS = 3, 20
HOST_WARMUP, HOST_REPS = 2, 10
P2P_WARMUP, P2P_REPS = 2, 10
MM_N = 8192
MM_SETS = 3
# dtype label -> (torch dtype, allow_tf32 or None when it does not apply, warm-ups, timed reps)
MM_CASES = [
    ("bf16", torch.bfloat16, None, 3, 20),
    ("fp16", torch.float16, None, 3, 20),
    ("tf32", torch.float32, True, 3, 20),
    ("fp32", torch.float32, False, 1, 5),
]
AR_SIZES = [MIB, 64 * MIB, GIB]
AR_WARMUP, AR_REPS = 5, 20
AR_DEADLINE_S = 150  # the all-reduce children are killed after this long
POLICY_ENV = ("NCCL_NVLS_ENABLE", "TORCH_SYMM_MEM_DISABLE_MULTICAST", "NVSHMEM_DISABLE_NVLS")
SECTIONS = ("copy", "h2d", "matmul", "p2p", "allreduce")


def log(msg=""):
    print(msg, flush=True)


def record_error(results, section, exc):
    text = "%s: %s" % (type(exc).__name__, exc)
    log("  ERROR in %s: %s" % (section, text))
    tb = traceback.format_exc(limit=6)
    results["errors"].append({"section": section, "error": text, "traceback": tb})


def median(xs):
    return statistics.median(xs) if xs else None


def time_events(fn, warmup, reps, device, sync_devices=()):
    """Runs fn(i) warmup times, then reps times each between two CUDA events recorded on the
    current stream of `device`; returns the reps times in milliseconds."""
    devices = [device] + [d for d in sync_devices if d != device]
    with torch.cuda.device(device):
        for i in range(warmup):
            fn(i)
        for d in devices:
            torch.cuda.synchronize(d)
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(reps)]
        for i, (start, end) in enumerate(events):
            start.record()
            fn(warmup + i)
            end.record()
        for d in devices:
            torch.cuda.synchronize(d)
        return [start.elapsed_time(end) for start, end in events]


def fmt(x, spec="%.1f", none="-"):
    return none if x is None else spec % x


def version_info():
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "host": platform.node(),
    }
    try:
        info["cudnn"] = torch.backends.cudnn.version()
    except Exception as exc:  # noqa: BLE001
        info["cudnn"] = "error: %s" % exc
    try:
        v = torch.cuda.nccl.version()
        info["nccl"] = ".".join(str(p) for p in v) if isinstance(v, (tuple, list)) else str(v)
    except Exception as exc:  # noqa: BLE001
        info["nccl"] = "error: %s" % exc
    try:
        import ctypes
        libcuda = ctypes.CDLL("libcuda.so.1")
        ver = ctypes.c_int(0)
        if libcuda.cuDriverGetVersion(ctypes.byref(ver)) == 0:
            info["driver_cuda_api"] = "%d.%d" % (ver.value // 1000, (ver.value % 1000) // 10)
    except Exception:  # noqa: BLE001
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        if out.returncode == 0 and out.stdout.strip():
            info["driver"] = out.stdout.strip().splitlines()[0].strip()
    except Exception:  # noqa: BLE001
        pass
    info["env"] = {k: os.environ.get(k) for k in POLICY_ENV + ("CUDA_VISIBLE_DEVICES",)}
    return info


def gpu_info(ngpu):
    gpus = []
    for d in range(ngpu):
        p = torch.cuda.get_device_properties(d)
        gpus.append({
            "index": d,
            "name": p.name,
            "capability": "%d.%d" % (p.major, p.minor),
            "memory_gib": round(p.total_memory / GIB, 2),
            "sms": p.multi_processor_count,
        })
    return gpus


# ---------------------------------------------------------------- device-to-device copy

def bench_copy(results, ngpu):
    log("\n== device-to-device copy, %d MiB float32, median of %d" % (COPY_BYTES // MIB, COPY_REPS))
    numel = COPY_BYTES // 4
    for d in range(ngpu):
        try:
            dev = torch.device("cuda", d)
            src = torch.randn(numel, dtype=torch.float32, device=dev)
            dst = torch.empty_like(src)
            times = time_events(lambda i: dst.copy_(src), COPY_WARMUP, COPY_REPS, d)
            t = median(times)
            gbps = 2 * COPY_BYTES / (t / 1e3) / GB
            results["copy_d2d"].append({"gpu": d, "bytes": COPY_BYTES, "median_ms": t,
                                        "gbps": gbps, "counted": "2*bytes/t", "samples_ms": times})
            log("  GPU %d: %8.1f GB/s  (%.3f ms)" % (d, gbps, t))
            del src, dst
            torch.cuda.empty_cache()
        except Exception as exc:  # noqa: BLE001
            record_error(results, "copy gpu %d" % d, exc)


# ---------------------------------------------------------------- host <-> device (pinned)

def bench_host(results, ngpu):
    log("\n== host<->device, %d MiB pinned, non_blocking, median of %d"
        % (COPY_BYTES // MIB, HOST_REPS))
    numel = COPY_BYTES // 4
    try:
        host = torch.empty(numel, dtype=torch.float32, pin_memory=True)
        with torch.cuda.device(0):
            seed = torch.randn(numel, dtype=torch.float32, device="cuda:0")
            host.copy_(seed)
            del seed
        results["host_pinned"] = bool(host.is_pinned())
    except Exception as exc:  # noqa: BLE001
        record_error(results, "h2d pinned allocation", exc)
        return
    for d in range(ngpu):
        try:
            dev_buf = torch.empty(numel, dtype=torch.float32, device=torch.device("cuda", d))
            for name, fn in (("h2d", lambda i: dev_buf.copy_(host, non_blocking=True)),
                             ("d2h", lambda i: host.copy_(dev_buf, non_blocking=True))):
                times = time_events(fn, HOST_WARMUP, HOST_REPS, d)
                t = median(times)
                gbps = COPY_BYTES / (t / 1e3) / GB
                results[name].append({"gpu": d, "bytes": COPY_BYTES, "median_ms": t, "gbps": gbps,
                                      "counted": "bytes/t", "samples_ms": times})
                log("  GPU %d %s: %7.1f GB/s  (%.3f ms)" % (d, name, gbps, t))
            del dev_buf
            torch.cuda.empty_cache()
        except Exception as exc:  # noqa: BLE001
            record_error(results, "h2d/d2h gpu %d" % d, exc)
    del host


# ---------------------------------------------------------------- matrix product

def set_tf32(value):
    # Only the legacy switch is used (never the fp32_precision API), so the two are not mixed.
    torch.backends.cuda.matmul.allow_tf32 = value


def bench_matmul(results, ngpu):
    n = MM_N
    flop = 2.0 * n ** 3
    log("\n== matmul %dx%d @ %dx%d, %d input sets rotated, median (TFLOP/s = 2n^3/t)"
        % (n, n, n, n, MM_SETS))
    try:
        old_tf32 = torch.backends.cuda.matmul.allow_tf32
    except Exception:  # noqa: BLE001
        old_tf32 = False
    results["matmul_settings"] = {
        "allow_bf16_reduced_precision_reduction":
            getattr(torch.backends.cuda.matmul, "allow_bf16_reduced_precision_reduction", None),
        "allow_fp16_reduced_precision_reduction":
            getattr(torch.backends.cuda.matmul, "allow_fp16_reduced_precision_reduction", None),
    }
    try:
        for d in range(ngpu):
            dev = torch.device("cuda", d)
            for label, dtype, tf32, warmup, reps in MM_CASES:
                try:
                    if tf32 is not None:
                        set_tf32(tf32)
                    with torch.cuda.device(d):
                        a = [torch.randn(n, n, dtype=dtype, device=dev) for _ in range(MM_SETS)]
                        b = [torch.randn(n, n, dtype=dtype, device=dev) for _ in range(MM_SETS)]
                        c = torch.empty(n, n, dtype=dtype, device=dev)

                    def step(i, a=a, b=b, c=c):
                        k = i % MM_SETS
                        torch.matmul(a[k], b[k], out=c)

                    times = time_events(step, warmup, reps, d)
                    t = median(times)
                    tflops = flop / (t / 1e3) / 1e12
                    results["matmul"].append({"gpu": d, "dtype": label, "n": n, "allow_tf32": tf32,
                                              "median_ms": t, "tflops": tflops, "reps": reps,
                                              "samples_ms": times})
                    log("  GPU %d %-4s: %7.1f TFLOP/s  (%.3f ms, %d reps)"
                        % (d, label, tflops, t, reps))
                    del a, b, c, step
                    torch.cuda.empty_cache()
                except Exception as exc:  # noqa: BLE001
                    record_error(results, "matmul gpu %d %s" % (d, label), exc)
    finally:
        try:
            set_tf32(old_tf32)
        except Exception:  # noqa: BLE001
            pass


# ---------------------------------------------------------------- peer to peer

def bench_p2p(results, ngpu):
    log("\n== peer access (torch.cuda.can_device_access_peer), row = from, column = to")
    access = [[None] * ngpu for _ in range(ngpu)]
    for i in range(ngpu):
        for j in range(ngpu):
            if i == j:
                continue
            try:
                access[i][j] = bool(torch.cuda.can_device_access_peer(i, j))
            except Exception as exc:  # noqa: BLE001
                record_error(results, "can_device_access_peer %d->%d" % (i, j), exc)
    results["peer_access"] = access
    log("      " + "".join("%5d" % j for j in range(ngpu)))
    for i in range(ngpu):
        cells = ["    -" if i == j else "    " + {True: "Y", False: "N", None: "?"}[access[i][j]]
                 for j in range(ngpu)]
        log("  %3d " % i + "".join(cells))
    if ngpu < 2:
        return

    log("\n== peer-to-peer copy, %d MiB, dst on GPU j <- src on GPU i, median of %d, GB/s = size/t"
        % (COPY_BYTES // MIB, P2P_REPS))
    numel = COPY_BYTES // 4
    bufs = {}
    try:
        for d in range(ngpu):
            dev = torch.device("cuda", d)
            bufs[d] = (torch.randn(numel, dtype=torch.float32, device=dev),
                       torch.empty(numel, dtype=torch.float32, device=dev))
    except Exception as exc:  # noqa: BLE001
        record_error(results, "p2p allocation", exc)
        return
    matrix = [[None] * ngpu for _ in range(ngpu)]
    for i in range(ngpu):
        for j in range(ngpu):
            if i == j:
                continue
            try:
                src, dst = bufs[i][0], bufs[j][1]
                # torch runs a cross-device copy on the source device's current stream, so the
                # events are recorded there.
                times = time_events(lambda k: dst.copy_(src), P2P_WARMUP, P2P_REPS, i,
                                    sync_devices=(j,))
                t = median(times)
                gbps = COPY_BYTES / (t / 1e3) / GB
                matrix[i][j] = gbps
                results["p2p"].append({"src": i, "dst": j, "bytes": COPY_BYTES, "median_ms": t,
                                       "gbps": gbps, "peer_access": access[i][j],
                                       "counted": "bytes/t", "samples_ms": times})
            except Exception as exc:  # noqa: BLE001
                record_error(results, "p2p %d->%d" % (i, j), exc)
    src = dst = None  # drop the last pair's references too, so the memory can be released
    del bufs
    for d in range(ngpu):
        with torch.cuda.device(d):
            torch.cuda.empty_cache()
    log("  src\\dst" + "".join("%8d" % j for j in range(ngpu)))
    for i in range(ngpu):
        log("  %7d" % i + "".join("%8s" % ("-" if i == j else fmt(matrix[i][j], "%.1f", "err"))
                                  for j in range(ngpu)))


# ---------------------------------------------------------------- NCCL all-reduce

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def allreduce_worker(rank, world, port, out_path):
    """One process per GPU (started by torch.multiprocessing.spawn)."""
    import torch.distributed as dist
    for k, v in (("NCCL_NVLS_ENABLE", "0"), ("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1"),
                 ("NVSHMEM_DISABLE_NVLS", "1")):
        os.environ.setdefault(k, v)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.cuda.set_device(rank)
    dev = torch.device("cuda", rank)
    timeout = datetime.timedelta(seconds=120)
    try:
        dist.init_process_group("nccl", rank=rank, world_size=world, timeout=timeout, device_id=dev)
    except TypeError:  # older torch without device_id
        dist.init_process_group("nccl", rank=rank, world_size=world, timeout=timeout)
    try:
        rows = []
        expected = world * (world + 1) / 2.0
        for size in AR_SIZES:
            numel = size // 4
            buf = torch.empty(numel, dtype=torch.float32, device=dev)
            # Correctness: rank r contributes r+1; small integers sum exactly in float32.
            buf.fill_(float(rank + 1))
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            torch.cuda.synchronize(dev)
            ok = bool(torch.all(buf == expected).item())
            # Timing on the same buffer: values keep growing (x world each time) but stay finite
            # for these iteration counts, and the values do not change NCCL's speed.
            times = time_events(lambda i: dist.all_reduce(buf, op=dist.ReduceOp.SUM),
                                AR_WARMUP, AR_REPS, rank)
            local = torch.tensor([median(times), 1.0 if ok else 0.0], dtype=torch.float64,
                                 device=dev)
            gathered = [torch.zeros_like(local) for _ in range(world)]
            dist.all_gather(gathered, local)
            per_rank = [g.tolist() for g in gathered]
            rows.append({"bytes": size, "per_rank_median_ms": [p[0] for p in per_rank],
                         "per_rank_correct": [p[1] == 1.0 for p in per_rank],
                         "rank0_samples_ms": times if rank == 0 else None})
            del buf
            torch.cuda.empty_cache()
        if rank == 0:
            with open(out_path, "w") as f:
                json.dump(rows, f)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def bench_allreduce(results, ngpu):
    if ngpu < 2:
        log("\n== all-reduce: skipped (needs 2+ GPUs)")
        return
    import torch.multiprocessing as mp
    log("\n== NCCL all-reduce, %d processes, float32 sum, median of %d per rank, mean over ranks"
        % (ngpu, AR_REPS))
    port = free_port()
    fd, out_path = tempfile.mkstemp(prefix="torch_reference_ar_", suffix=".json")
    os.close(fd)
    ctx = None
    try:
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(port)
        ctx = mp.spawn(allreduce_worker, args=(ngpu, port, out_path), nprocs=ngpu, join=False)
        deadline = time.monotonic() + AR_DEADLINE_S
        while not ctx.join(timeout=5):
            if time.monotonic() > deadline:
                raise TimeoutError("all-reduce children still running after %d s" % AR_DEADLINE_S)
        with open(out_path) as f:
            rows = json.load(f)
        for row in rows:
            times = row["per_rank_median_ms"]
            t = sum(times) / len(times)
            algbw = row["bytes"] / (t / 1e3) / GB
            busbw = algbw * 2 * (ngpu - 1) / ngpu
            row.update({"world_size": ngpu, "mean_ms": t, "max_ms": max(times),
                        "algbw_gbps": algbw, "busbw_gbps": busbw,
                        "correct": all(row["per_rank_correct"])})
            results["allreduce"].append(row)
        log("  %10s %10s %10s %10s %8s" % ("size", "time ms", "algbw GB/s", "busbw GB/s", "sum ok"))
        for row in results["allreduce"]:
            size = row["bytes"]
            label = "%d MiB" % (size // MIB) if size < GIB else "%d GiB" % (size // GIB)
            log("  %10s %10.3f %10.1f %10.1f %8s" % (label, row["mean_ms"], row["algbw_gbps"],
                                                      row["busbw_gbps"],
                                                      "yes" if row["correct"] else "NO"))
    except Exception as exc:  # noqa: BLE001
        record_error(results, "allreduce", exc)
        if ctx is not None:
            for p in ctx.processes:
                if p.is_alive():
                    p.terminate()
            for p in ctx.processes:
                p.join(10)
                if p.is_alive():
                    p.kill()
    finally:
        try:
            os.unlink(out_path)
        except OSError:
            pass


# ---------------------------------------------------------------- summary and main

def summary(results, ngpu):
    log("\n== summary (GB/s = 1e9 B/s; copy counts read + write)")
    by = {}
    for key in ("copy_d2d", "h2d", "d2h"):
        for r in results[key]:
            by[(key, r["gpu"])] = r["gbps"]
    for r in results["matmul"]:
        by[(r["dtype"], r["gpu"])] = r["tflops"]
    cols = [("copy_d2d", "D2D GB/s"), ("h2d", "H2D GB/s"), ("d2h", "D2H GB/s"),
            ("bf16", "bf16 TF"), ("fp16", "fp16 TF"), ("tf32", "tf32 TF"), ("fp32", "fp32 TF")]
    log("  %-3s " % "GPU" + "".join("%10s" % c[1] for c in cols) + "  name")
    for d in range(ngpu):
        name = results["gpus"][d]["name"] if d < len(results["gpus"]) else "?"
        log("  %-3d " % d + "".join("%10s" % fmt(by.get((c[0], d))) for c in cols) + "  " + name)
    if results["errors"]:
        log("\n%d section(s) failed:" % len(results["errors"]))
        for e in results["errors"]:
            log("  %s: %s" % (e["section"], e["error"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="OUT.json", help="write every number to this file")
    parser.add_argument("--gpus", type=int, default=None,
                        help="use the first N visible GPUs (default: all)")
    parser.add_argument("--skip", default="",
                        help="comma-separated sections to leave out: " + ",".join(SECTIONS))
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(SECTIONS)
    if unknown:
        parser.error("unknown section(s) in --skip: %s" % ",".join(sorted(unknown)))

    started = time.monotonic()
    results = {
        "tool": "torch_reference", "schema": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {}, "gpus": [], "copy_d2d": [], "h2d": [], "d2h": [], "matmul": [],
        "peer_access": None, "p2p": [], "allreduce": [], "errors": [],
    }
    try:
        results["versions"] = version_info()
    except Exception as exc:  # noqa: BLE001
        record_error(results, "versions", exc)
    v = results["versions"]
    log("torch %s, CUDA %s, cuDNN %s, NCCL %s, driver %s (CUDA API %s), Python %s"
        % (v.get("torch"), v.get("cuda"), v.get("cudnn"), v.get("nccl"), v.get("driver", "?"),
           v.get("driver_cuda_api", "?"), v.get("python")))
    log("policy env: " + ", ".join("%s=%s" % (k, os.environ.get(k)) for k in POLICY_ENV))

    ngpu = 0
    try:
        if not torch.cuda.is_available():
            raise RuntimeError("torch.cuda.is_available() is False")
        visible = torch.cuda.device_count()
        ngpu = visible if args.gpus is None else max(0, min(args.gpus, visible))
        if args.gpus is not None and args.gpus > visible:
            log("asked for %d GPUs, only %d visible: using %d" % (args.gpus, visible, visible))
        results["visible_gpus"] = visible
        results["gpus"] = gpu_info(ngpu)
        for g in results["gpus"]:
            log("GPU %d: %s (sm %s, %.1f GiB, %d SMs)"
                % (g["index"], g["name"], g["capability"], g["memory_gib"], g["sms"]))
    except Exception as exc:  # noqa: BLE001
        record_error(results, "devices", exc)
    results["used_gpus"] = ngpu

    if ngpu > 0:
        torch.manual_seed(0)
        plan = [("copy", bench_copy), ("h2d", bench_host), ("matmul", bench_matmul),
                ("p2p", bench_p2p), ("allreduce", bench_allreduce)]
        for name, fn in plan:
            if name in skip:
                log("\n== %s: skipped (--skip)" % name)
                continue
            t0 = time.monotonic()
            try:
                fn(results, ngpu)
            except Exception as exc:  # noqa: BLE001
                record_error(results, name, exc)
            results.setdefault("section_seconds", {})[name] = round(time.monotonic() - t0, 2)
        summary(results, ngpu)

    results["total_seconds"] = round(time.monotonic() - started, 2)
    log("\ntotal %.1f s" % results["total_seconds"])
    if args.json:
        try:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1, default=str)
            log("wrote %s" % args.json)
        except Exception as exc:  # noqa: BLE001
            log("could not write %s: %s" % (args.json, exc))
            return 1
    return 1 if (ngpu == 0 or results["errors"]) else 0


if __name__ == "__main__":
    sys.exit(main())
