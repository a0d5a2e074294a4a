#!/usr/bin/env python3
"""Top-1 accuracy of `gpudoctor explain` on the explain corpus (tests/explain), per part and mode.

Usage: bench/explain_accuracy.py GPUDOCTOR [CASES_DIR]

Each case folder holds input.txt (the text as the thread posted it) and case.toml (source URL,
root_cause confirmed by the thread's resolution). Two modes:
  facts+log  the reporter's stated facts (template fields, prose: facts.txt when the case has one)
             followed by the log (input.txt)
  log        the log alone: log.txt when the case has one, else input.txt
Parts: the held-out part is the list in CASES_DIR/heldout.txt, drawn once at random (see
--assign); every other case is development. Rules are tuned on development cases only.

Prints top-1 per part and mode, per cause (development and held-out together, facts+log), and
the confusions (expected -> named first). Cases with known_gap (the text cannot show the cause)
count as right when explain names no wrong cause (other or a harmless one), as the case test does.

--assign NAME...: put new cases into a part at random (one in four held out) and append the
held-out ones to heldout.txt; a case is assigned once, when it is added.
"""
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import tomllib


def load_cases(root):
    cases = []
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        spec = os.path.join(d, "case.toml")
        if not os.path.isfile(spec):
            continue
        with open(spec, "rb") as f:
            c = tomllib.load(f)
        c["name"] = name
        c["dir"] = d
        cases.append(c)
    return cases


def heldout_names(root):
    path = os.path.join(root, "heldout.txt")
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {line.strip() for line in f if line.strip() and not line.startswith("#")}


def mode_text(case, mode):
    d = case["dir"]
    read = lambda n: open(os.path.join(d, n), "rb").read() if os.path.exists(os.path.join(d, n)) else None
    log = read("log.txt") if mode == "log" else None
    if log is not None:
        return log
    text = read("input.txt")
    if mode == "facts+log":
        facts = read("facts.txt")
        if facts is not None:
            text = facts + b"\n" + text
    return text


def first_cause(binary, text):
    with tempfile.NamedTemporaryFile(suffix=".txt") as f:
        f.write(text)
        f.flush()
        p = subprocess.run([binary, "explain", f.name, "--json"], capture_output=True, timeout=60)
    try:
        j = json.loads(p.stdout)
        return j["causes"][0]["id"] if j.get("causes") else "(none)"
    except (ValueError, KeyError):
        return f"(exit {p.returncode})"


def right(case, got):
    if case.get("known_gap"):
        return got == case["root_cause"] or got == "other" or got.endswith("_harmless")
    return got == case["root_cause"]


def main():
    args = sys.argv[1:]
    if len(args) >= 1 and args[0] == "--assign":
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "explain")
        rng = random.SystemRandom()
        held = [n for n in args[1:] if rng.random() < 0.25]
        with open(os.path.join(root, "heldout.txt"), "a") as f:
            for n in held:
                f.write(n + "\n")
        print("held out:", " ".join(held) or "(none)")
        return 0
    if not args:
        print(__doc__)
        return 2
    binary = args[0]
    root = args[1] if len(args) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "explain")
    cases = load_cases(root)
    held = heldout_names(root)
    results = {}  # (name, mode) -> got
    for c in cases:
        for mode in ("facts+log", "log"):
            results[(c["name"], mode)] = first_cause(binary, mode_text(c, mode))
    print(f"explain corpus: {len(cases)} cases ({len(held & {c['name'] for c in cases})} held out)\n")
    print("| part | mode | cases | top-1 right | top-1 |")
    print("|---|---|---|---|---|")
    for part in ("development", "held-out"):
        members = [c for c in cases if (c["name"] in held) == (part == "held-out")]
        for mode in ("facts+log", "log"):
            ok = sum(right(c, results[(c["name"], mode)]) for c in members)
            share = f"{100.0 * ok / len(members):.0f}%" if members else "-"
            print(f"| {part} | {mode} | {len(members)} | {ok} | {share} |")
    print("\nPer cause (all cases, facts+log; log alone in brackets):\n")
    print("| cause | cases | right | right, log alone |")
    print("|---|---|---|---|")
    by_cause = collections.defaultdict(list)
    for c in cases:
        by_cause[c["root_cause"]].append(c)
    for cause in sorted(by_cause):
        cs = by_cause[cause]
        ok = sum(right(c, results[(c["name"], "facts+log")]) for c in cs)
        ok_log = sum(right(c, results[(c["name"], "log")]) for c in cs)
        print(f"| {cause} | {len(cs)} | {ok} | {ok_log} |")
    print("\nConfusions (expected -> named first, mode, case):\n")
    confusions = collections.Counter()
    for c in cases:
        for mode in ("facts+log", "log"):
            got = results[(c["name"], mode)]
            if not right(c, got):
                part = "held-out" if c["name"] in held else "dev"
                confusions[(c["root_cause"], got)] += 1
                print(f"- {c['root_cause']} -> {got} ({mode}, {part}, {c['name']})")
    if not confusions:
        print("(none)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
