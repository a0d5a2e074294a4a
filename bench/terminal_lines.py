#!/usr/bin/env python3
"""Lines of `gpudoctor check --no-color` on every scenario tree (bench/RESULTS.md, issue 13 item 7).

Keep the trees first: GPUDOCTOR_KEEP_SCENARIO_TREE=1 build/tests/gpudoctor_scenario_tests
Then: bench/terminal_lines.py BINARY  ->  one line per scenario: name, lines, the verdict's line,
the longest line in characters, exit code. Each tree runs with its scenario's [run] arguments and
environment and its host's fake driver, as the scenario test runs it (without --json).
"""
import glob
import os
import subprocess
import sys
import tempfile
import tomllib

binary = sys.argv[1]
extra = sys.argv[2:]
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
fakes = os.path.join(repo, "build", "tests", "fakes")
for tree in sorted(glob.glob(os.path.join(tempfile.gettempdir(), "gpudoctor-scenario-*"))):
    name = os.path.basename(tree)[len("gpudoctor-scenario-"):].rsplit("-", 1)[0]
    sdir = os.path.join(repo, "tests", "scenarios", name)
    if not os.path.exists(os.path.join(sdir, "scenario.toml")):
        continue
    spec = tomllib.load(open(os.path.join(sdir, "scenario.toml"), "rb"))
    run = spec.get("run", {})
    if "as_user" in run or run.get("driver") == "missing":
        continue
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": fakes}
    for k, v in run.get("env", {}).items():
        env[k] = (fakes + ":" + v) if k == "LD_LIBRARY_PATH" else v
    base = spec.get("base")
    bases = [base] if isinstance(base, str) else (base or [])
    driver = os.path.join(sdir, "driver.json")
    if not os.path.exists(driver) and bases:
        driver = os.path.join(repo, "tests", "hosts", bases[0], "driver.json")
    has_driver = os.path.exists(driver) and run.get("driver") != "none"
    if has_driver:
        env["GPUDOCTOR_FAKE_DRIVER"] = driver
    args = [binary, "check", "--no-color", "--root", os.path.join(tree, "root"), "--driver",
            "host" if has_driver else "none", "--timeout", "3"] + run.get("args", []) + extra
    p = subprocess.run(args, env=env, capture_output=True, text=True)
    lines = p.stdout.splitlines()
    verdict = next((i + 1 for i, l in enumerate(lines) if l.startswith("Verdict")), None)
    print(name, len(lines), verdict, max((len(l) for l in lines), default=0), p.returncode)
