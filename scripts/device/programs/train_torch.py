"""A small PyTorch training loop for `gpudoctor run` on the GPU machine (scripts/device/run_programs.sh).

--device auto: CUDA when torch sees a GPU, else the CPU (what most training scripts do);
--device cpu:  the model left on the CPU, as the line `device = "cpu"` below says;
--slow-loader: every batch is made by CPU work in the main process (a starved GPU).
Prints steps per second at the end, and the CPU time and peak memory of its parent (gpudoctor) and
its parent's other children (the NVML sampler), when --report-parent is given.
"""
import argparse
import os
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--device", default="auto")
ap.add_argument("--seconds", type=float, default=15)
ap.add_argument("--slow-loader", action="store_true")
ap.add_argument("--report-parent", action="store_true")
a = ap.parse_args()

if a.device == "cpu":
    device = "cpu"  # the model is left on the CPU
else:
    device = "cuda" if torch.cuda.is_available() else "cpu"

model = torch.nn.Sequential(torch.nn.Linear(2048, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 2048)).to(device)
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
batch = 512 if device == "cuda" else 64
x = torch.randn(batch, 2048, device=device)
y = torch.randn(batch, 2048, device=device)


def slow_batch():
    # Decoding and augmentation done badly: pure CPU work for each batch.
    t = torch.randn(batch, 2048)
    for _ in range(40):
        t = torch.tanh(t * 1.0001)
    return t.to(device), y


torch.set_num_threads(1) if a.slow_loader else None


def watchers():
    # gpudoctor (the parent) and its other children (the NVML sampler), when --report-parent.
    ppid = os.getppid()
    kids = open(f"/proc/{ppid}/task/{ppid}/children").read().split()
    return [ppid] + [int(k) for k in kids if int(k) != os.getpid()]


def cpu_ns(pid):
    # /proc/PID/schedstat: nanoseconds on a CPU, exact (the ticks of /proc/PID/stat are sampled).
    try:
        return int(open(f"/proc/{pid}/schedstat").read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


cpu_at_start = {pid: cpu_ns(pid) for pid in watchers()} if a.report_parent else {}
steps = 0
start = time.time()
while time.time() - start < a.seconds:
    xb, yb = slow_batch() if a.slow_loader else (x, y)
    loss = torch.nn.functional.mse_loss(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    steps += 1
    if device == "cuda" and steps % 50 == 0:
        torch.cuda.synchronize()
if device == "cuda":
    torch.cuda.synchronize()
elapsed = time.time() - start
print(f"device={device} steps={steps} seconds={elapsed:.2f} steps_per_s={steps / elapsed:.1f}", flush=True)

if a.report_parent:
    def cpu_and_peak(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        peak = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM")][0].split()[1]
        return ticks / os.sysconf("SC_CLK_TCK"), int(peak) / 1024

    def memory_now(pid):
        # RSS counts the pages a forked child shares with its parent twice; PSS divides each
        # shared page among the processes mapping it; private pages are the process's alone.
        kib = {}
        for line in open(f"/proc/{pid}/smaps_rollup"):
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                kib[parts[0].rstrip(":")] = int(parts[1])
        private = kib.get("Private_Clean", 0) + kib.get("Private_Dirty", 0)
        return kib.get("Rss", 0) / 1024, kib.get("Pss", 0) / 1024, private / 1024

    def top_mappings(pid, n=8):
        # Where the memory is: RSS and private KiB per mapped file (anonymous memory as [anon]).
        by_name, name = {}, None
        for line in open(f"/proc/{pid}/smaps"):
            parts = line.split()
            if parts and "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                name = parts[5] if len(parts) > 5 else "[anon]"
                by_name.setdefault(name, [0, 0])
            elif parts and parts[0] == "Rss:":
                by_name[name][0] += int(parts[1])
            elif parts and parts[0] in ("Private_Clean:", "Private_Dirty:"):
                by_name[name][1] += int(parts[1])
        top = sorted(by_name.items(), key=lambda kv: -kv[1][0])[:n]
        return ", ".join(f"{os.path.basename(k)} {v[0] / 1024:.1f}/{v[1] / 1024:.1f}" for k, v in top)
    ppid = os.getppid()
    kids = open(f"/proc/{ppid}/task/{ppid}/children").read().split()
    for pid in [ppid] + [k for k in kids if int(k) != os.getpid()]:
        cpu, peak = cpu_and_peak(pid)
        rss, pss, private = memory_now(pid)
        before, after = cpu_at_start.get(int(pid)), cpu_ns(pid)
        during = f"{100 * (after - before) / 1e9 / elapsed:.2f}%" if before is not None and after is not None else "?"
        print(f"watcher pid={pid} cpu_s={cpu:.2f} cpu_share_of_one_core={100 * cpu / elapsed:.2f}% "
              f"during_loop_schedstat={during} peak_rss_mib={peak:.1f} "
              f"now rss_mib={rss:.1f} pss_mib={pss:.1f} private_mib={private:.1f}", flush=True)
        print(f"  largest (rss/private MiB): {top_mappings(pid)}", flush=True)
