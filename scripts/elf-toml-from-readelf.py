#!/usr/bin/env python3
"""Turns `readelf -d` output of real libraries into [[elf]] tables for a scenario or host
(tests/hosts/NAME/elf.toml): the test build then makes real ELF files with the same SONAME,
NEEDED and RPATH/RUNPATH. The C library's own objects are left out of NEEDED (every Python process
has them loaded already).

Input: blocks "### <path inside the package>" followed by readelf -d lines.
    scripts/elf-toml-from-readelf.py READELF.txt PREFIX [--rename OLD=NEW ...] >> elf.toml
PREFIX is where the package's files go in the tree ("home/alice/venv/lib/python3.10/site-packages/").
"""
import re
import sys

LIBC = {"libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0", "ld-linux-x86-64.so.2", "libutil.so.1"}


def main():
    src, prefix = sys.argv[1], sys.argv[2]
    renames = dict(a.split("=", 1) for a in sys.argv[4::2]) if "--rename" in sys.argv else {}
    blocks, cur = [], None
    for line in open(src):
        if line.startswith("### "):
            cur = {"path": line[4:].split(" -> ")[0].strip(), "needed": [], "soname": None, "rpath": None, "runpath": None}
            blocks.append(cur)
        elif cur is not None:
            m = re.search(r"\((NEEDED|SONAME|RPATH|RUNPATH)\)\s+.*\[(.*)\]", line)
            if not m:
                continue
            kind, value = m.group(1), m.group(2)
            if kind == "NEEDED":
                if value not in LIBC:
                    cur["needed"].append(value)
            else:
                cur[kind.lower()] = value
    for b in blocks:
        path = b["path"]
        for old, new in renames.items():
            path = path.replace(old, new)
        print("[[elf]]")
        print(f'path = "{prefix}{path}"')
        for key in ("soname", "rpath", "runpath"):
            if b[key]:
                print(f'{key} = "{b[key]}"')
        if b["needed"]:
            print("needed = [" + ", ".join(f'"{n}"' for n in b["needed"]) + "]")
        print()


if __name__ == "__main__":
    main()
