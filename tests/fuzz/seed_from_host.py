#!/usr/bin/env python3
"""Writes a test host (tests/hosts/NAME: root/ and elf.toml) as one fuzz input of the tree format
(tests/fuzz/tree.hpp), a seed of fuzz_resolver and fuzz_collect:
    tests/fuzz/seed_from_host.py tests/hosts/venv-torch231-cu121 > tests/corpus/tree/seed-venv-torch231-cu121
Files are cut at --max-file bytes (a RECORD's first lines are enough to reach its parser); a file
whose bytes hold a newline followed by '@' is cut there (the format's record separator)."""
import argparse
import os
import sys
import tomllib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("--max-file", type=int, default=4096)
    a = ap.parse_args()
    root = os.path.join(a.host, "root")
    out = []
    elfs = []
    elf_toml = os.path.join(a.host, "elf.toml")
    ldconfig = False
    spec = {}
    if os.path.exists(elf_toml):
        with open(elf_toml, "rb") as f:
            spec = tomllib.load(f)
        elfs = spec.get("elf", [])
        ldconfig = spec.get("ldconfig", False)
    elf_paths = {"/" + e["path"].lstrip("/") for e in elfs}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.normpath(os.path.join(rel_dir, name)).lstrip("./")
            if os.path.islink(full):
                out.append(b"@link " + rel.encode() + b"\n" + os.readlink(full).encode())
            elif os.path.isdir(full):
                if not os.listdir(full):
                    out.append(b"@dir " + rel.encode())
            elif rel not in elf_paths:
                with open(full, "rb") as f:
                    data = f.read(a.max_file)
                cut = data.find(b"\n@")
                if cut >= 0:
                    data = data[:cut]
                out.append(b"@file " + rel.encode() + b"\n" + data)
    cache = []
    for e in elfs:
        lines = []
        for key in ("soname", "rpath", "runpath"):
            if key in e:
                lines.append(f"{key}={e[key]}")
        for n in e.get("needed", []):
            lines.append(f"needed={n}")
        if e.get("m32"):
            lines.append("class=32")
        if e.get("machine", spec.get("machine")) == "aarch64":  # elf.toml's machine (EM_AARCH64)
            lines.append("machine=183")
        path = "/" + e["path"].lstrip("/")
        out.append(b"@elf " + path.encode() + b"\n" + "\n".join(lines).encode())
        # What ldconfig would list (the scenario runner runs it when elf.toml says ldconfig = true):
        # the libraries with a SONAME in the system's library folders.
        if "soname" in e and (path.startswith("/usr/lib/") or path.startswith("/lib/") or path.startswith("/usr/local/cuda")):
            cache.append(f"{e['soname']}={os.path.dirname(path)}/{e['soname']}")
    if ldconfig and cache:
        out.append(b"@cache /etc/ld.so.cache\n" + "\n".join(cache).encode())
    sys.stdout.buffer.write(b"\n".join(out) + b"\n")


main()
