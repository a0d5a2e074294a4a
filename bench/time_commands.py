#!/usr/bin/env python3
"""Times whole commands side by side: wall time (min, median, max over N runs) and peak resident
memory (max RSS of the command's process tree, from getrusage of waited children).

    bench/time_commands.py --runs 20 --label gpudoctor -- build/src/gpudoctor check --json \
                           --runs 10 --label nvidia-smi -- nvidia-smi -q

Each group is "--runs N --label NAME -- CMD ..." and groups are separated by "---".
Prints a Markdown table; exits non-zero if a command fails to start.
"""
import os
import resource
import statistics
import subprocess
import sys
import time


def run_group(label, runs, cmd):
    walls, peaks, codes = [], [], set()
    for _ in range(runs):
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            try:
                os.execvp(cmd[0], cmd)
            finally:
                os._exit(127)
        _, status, usage = os.wait4(pid, 0)
        walls.append(time.perf_counter() - t0)
        peaks.append(usage.ru_maxrss / 1024.0)  # KiB -> MiB (Linux reports KiB)
        codes.add(os.waitstatus_to_exitcode(status))
    return {
        "label": label, "runs": runs, "cmd": " ".join(cmd),
        "min": min(walls), "median": statistics.median(walls), "max": max(walls),
        "peak_mib": max(peaks), "exit": sorted(codes),
    }


def parse(argv):
    groups, cur = [], None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--runs":
            cur = cur or {}
            cur["runs"] = int(argv[i + 1]); i += 2
        elif a == "--label":
            cur = cur or {}
            cur["label"] = argv[i + 1]; i += 2
        elif a == "--":
            j = argv.index("---", i) if "---" in argv[i:] else len(argv)
            cur = cur or {}
            cur["cmd"] = argv[i + 1:j]
            groups.append(cur); cur = None
            i = j + 1
        else:
            sys.exit(f"unexpected argument {a!r}")
    return groups


def main():
    groups = parse(sys.argv[1:])
    if not groups:
        sys.exit(__doc__)
    print("| command | runs | min s | median s | max s | peak RSS MiB | exit codes |")
    print("|---|---|---|---|---|---|---|")
    for g in groups:
        r = run_group(g.get("label", g["cmd"][0]), g.get("runs", 10), g["cmd"])
        print(f"| {r['label']} (`{r['cmd']}`) | {r['runs']} | {r['min']:.4f} | {r['median']:.4f} | "
              f"{r['max']:.4f} | {r['peak_mib']:.1f} | {','.join(map(str, r['exit']))} |", flush=True)


if __name__ == "__main__":
    main()
