#!/usr/bin/env python3
"""`gpudoctor merge` over many simulated nodes: wall time and peak memory (max RSS).

    bench/fleet_merge.py build/src/gpudoctor build/tests/fakes tests 1000 10000

The nodes are copies of two real snapshots taken by the binary itself: `snapshot --probe --quick`
on the fake 2 x H100 GPU (tests/data/probe/h100x2.driver.json) and `snapshot` of the no-GPU VM
host tree (tests/hosts/debian12-firecracker-nogpu). Each copy gets its own label; one node in 50 is
the broken VM, one in 10 reports another driver version, one in 97 has its bf16 products at 60%.
Prints one Markdown row per count: nodes, files' size, wall seconds, max RSS, the report's counts.
"""
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def snapshot(binary, args, env):
    out = subprocess.run([binary, "snapshot", "--no-redact", *args], env=env, check=True, capture_output=True)
    return json.loads(out.stdout)


def main():
    binary, fakes, tests = sys.argv[1:4]
    counts = [int(c) for c in sys.argv[4:]] or [1000, 10000]
    env = dict(os.environ, LD_LIBRARY_PATH=fakes, GPUDOCTOR_FAKE_DRIVER=os.path.join(tests, "data/probe/h100x2.driver.json"))
    gpu = snapshot(binary, ["--probe", "--quick"], env)
    vm = snapshot(binary, ["--root", os.path.join(tests, "hosts/debian12-firecracker-nogpu/root"), "--driver", "none"], {"PATH": "/usr/bin:/bin"})
    print("| nodes | snapshots on disk | wall s | max RSS MiB | causes | lagging | version differences |")
    print("|---|---|---|---|---|---|---|")
    for n in counts:
        work = tempfile.mkdtemp(prefix="gpudoctor-merge-bench-")
        try:
            total = 0
            for i in range(n):
                s = copy.deepcopy(vm if i % 50 == 49 else gpu)
                s["label"] = f"node{i:05d}"
                if i % 10 == 3 and s["driver"]["nvml"].get("driver_version"):
                    s["driver"]["nvml"]["driver_version"] = "580.95.05"
                if i % 97 == 5:
                    for g in s["compute"]["gpus"]:
                        for p in g["gemm"]:
                            if p["precision"] == "bf16" and isinstance(p.get("rate"), dict) and p["rate"].get("value"):
                                p["rate"]["value"] *= 0.6
                text = json.dumps(s, indent=2)
                total += len(text)
                with open(os.path.join(work, f"node{i:05d}.json"), "w") as f:
                    f.write(text)
            t0 = time.perf_counter()
            proc = subprocess.Popen([binary, "merge", "--json", work], stdout=subprocess.PIPE)
            out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            report = json.loads(out)
            assert report["nodes"] == n, report["nodes"]
            causes = ", ".join("%s %d" % (c["id"], len(c["hosts"])) for c in report["causes"])
            spread = ", ".join(v["what"] for v in report["version_differences"])
            print(f"| {n} | {total / 2**20:.0f} MiB | {wall:.2f} | {usage.ru_maxrss / 1024:.0f} | {causes} | "
                  f"{len(report['lagging'])} | {spread} |", flush=True)
        finally:
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
