#!/usr/bin/env python3
"""Time and peak memory of gpudoctor on each hostile input of issue 10.

Each input is laid into a copy of tests/hosts/h200-container/root with a venv at
/home/alice/venv (as tests/cli/hostile_input_test.cpp builds them), then
`gpudoctor check --json --root IMAGE --driver none` runs under /usr/bin/time -v.
Prints a Markdown table: input, size of the hostile file, wall s, peak RSS MiB, exit code.

usage: bench/hostile_inputs.py BUILD/src/gpudoctor
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
HOST_ROOT = os.path.join(HERE, "..", "tests", "hosts", "h200-container", "root")
DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH = 1, 5, 10, 14, 15


def elf(dynamic, shoff=0, shnum=0):
    """A 64-bit x86-64 ET_DYN: header, PT_LOAD over the file, PT_DYNAMIC, dynamic, strings.
    `dynamic` is (tag, value) with string values given as str (added to the table)."""
    strtab = bytearray(b"\0")
    offsets = {}
    dyn = []
    for tag, value in dynamic:
        if isinstance(value, str):
            if value not in offsets:
                offsets[value] = len(strtab)
                strtab += value.encode() + b"\0"
            value = offsets[value]
        dyn.append((tag, value))
    phoff, dyn_at = 64, 64 + 2 * 56
    str_at = dyn_at + 16 * (len(dyn) + 3)
    dyn += [(DT_STRTAB, str_at), (DT_STRSZ, len(strtab)), (0, 0)]
    total = str_at + len(strtab)
    head = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    head += struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, phoff, shoff, 0, 64, 56, 2, 64, shnum, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, total, total, 0x1000)
    dsz = 16 * len(dyn)
    dynamic_ph = struct.pack("<IIQQQQQQ", 2, 6, dyn_at, dyn_at, dyn_at, dsz, dsz, 8)
    body = b"".join(struct.pack("<QQ", t, v) for t, v in dyn)
    return head + load + dynamic_ph + body + bytes(strtab)


def cache(entries, text):
    """A new-format ld.so.cache whose `entries` all point at one string."""
    str_at = 48 + 24 * entries
    head = b"glibc-ld.so.cache1.1" + struct.pack("<II", entries, len(text) + 1) + bytes([2]) + b"\0" * 19
    entry = struct.pack("<iIIIQ", 0x0303, str_at, str_at, 0, 0)
    return head + entry * entries + text + b"\0"


def image(tmp, name):
    root = os.path.join(tmp, name, "root")
    shutil.copytree(HOST_ROOT, root, symlinks=True)
    venv = os.path.join(root, "home/alice/venv")
    sp = os.path.join(venv, "lib/python3.11/site-packages")
    os.makedirs(sp)
    write(os.path.join(venv, "pyvenv.cfg"), b"home = /usr/bin\nversion = 3.11.4\n")
    return root, sp


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def torch(sp, c_module=None, version_py=b"__version__ = '2.3.1+cu121'\ncuda: Optional[str] = '12.1'\n"):
    write(os.path.join(sp, "torch-2.3.1.dist-info/METADATA"), b"Metadata-Version: 2.1\nName: torch\nVersion: 2.3.1\n")
    write(os.path.join(sp, "torch/version.py"), version_py)
    if c_module is not None:
        write(os.path.join(sp, "torch/_C.cpython-311-x86_64-linux-gnu.so"), c_module)
    return os.path.join(sp, "torch/_C.cpython-311-x86_64-linux-gnu.so")


def cases(tmp):
    root, sp = image(tmp, "normal")
    torch(sp, elf([(DT_NEEDED, "libc.so.6")]))
    yield "normal run (torch venv, one small extension module)", root, 120

    root, sp = image(tmp, "version-py")
    p = torch(sp, version_py=b"__version__ = '2.3.1'\ncuda = '" + b"1." * 20000 + b"'\n")
    yield "torch/version.py `cuda = '1.'*20000`", root, os.path.getsize(os.path.join(sp, "torch/version.py"))

    root, sp = image(tmp, "build-info")
    write(os.path.join(sp, "tensorflow-2.15.0.dist-info/METADATA"), b"Metadata-Version: 2.1\nName: tensorflow\nVersion: 2.15.0\n")
    text = (b"build_info = collections.OrderedDict([('cuda_compute_capabilities', [" + b"'sm_90', " * 1000 +
            b"]), ('cuda_version', '" + b"1." * 10000 + b"'), ('cudnn_version', '" + b"8" * 20000 + b"')])\n")
    write(os.path.join(sp, "tensorflow/python/platform/build_info.py"), text)
    yield "build_info.py with 20-40 KB values", root, len(text)

    root, sp = image(tmp, "metadata")
    write(os.path.join(sp, "jax-0.4.25.dist-info/METADATA"), b"Metadata-Version: 2.1\nName: jax\nVersion: 0.4.25\n")
    meta = (b"Metadata-Version: 2.1\nName: jaxlib\nVersion: 0.4.25+cuda" + b"1" * 60000 + b"\n" +
            (b"Requires-Dist: nvidia-cublas-cu12" + b" " * 300 + b">=12\n") * 400 + b"Requires-Dist: x>=" + b"1" * 60000 + b"\n")
    write(os.path.join(sp, "jaxlib-0.4.25.dist-info/METADATA"), meta)
    yield "jaxlib METADATA with 60 KB lines", root, len(meta)

    root, sp = image(tmp, "utf8")
    bad = b"\xff-\xc3\x28-\xed\xa0\x80-\xc0\xaf"
    write(os.path.join(root, "var/log/kern.log"),
          b"Nov 26 10:00:00 h200 kernel: NVRM: Xid (PCI:0000:00:06.0): 79, pid=1, name=py" + bad + b", GPU has fallen off the bus.\n" * 1000)
    write(os.path.join(root, "etc/os-release"), b'PRETTY_NAME="Ubuntu ' + bad + b'"\nID=ubuntu\n')
    yield "invalid UTF-8 in kern.log (1,000 Xid lines) and os-release", root, os.path.getsize(os.path.join(root, "var/log/kern.log"))

    root, sp = image(tmp, "sections")
    data = bytearray(elf([(DT_NEEDED, "libc.so.6")], shoff=4096, shnum=0))
    data += b"\0" * (4096 + 64 - len(data))
    data[4096 + 32:4096 + 40] = struct.pack("<Q", 30_000_000)
    p = torch(sp, bytes(data))
    os.truncate(p, 4096 + 30_000_000 * 64)
    yield "ELF: section count 30 M from sh_size, sparse file (4 KB of data, 1.9 GB apparent)", root, 4160

    root, sp = image(tmp, "needed")
    p = torch(sp, elf([(DT_NEEDED, "x" * 200_000)] * 65_000))
    yield "ELF: NEEDED x65,000 naming one 200 KB string", root, os.path.getsize(p)

    root, sp = image(tmp, "rpath-big")
    rpath = ":".join("/r/%d" % i for i in range(40_000))
    p = torch(sp, elf([(DT_RPATH, rpath)] + [(DT_NEEDED, "libn%d.so" % i) for i in range(65_000)]))
    yield "ELF: 40,000 RPATH folders x 65,000 NEEDED", root, os.path.getsize(p)

    root, sp = image(tmp, "rpath")
    rpath = ":".join("/opt/r/%d" % i for i in range(1000))
    p = torch(sp, elf([(DT_RPATH, rpath)] + [(DT_NEEDED, "libn%d.so" % i) for i in range(1000)]))
    yield "ELF: 1,000 RPATH folders x 1,000 NEEDED (inside the ELF limits)", root, os.path.getsize(p)

    root, sp = image(tmp, "chain")
    rpath = "".join("/opt/chain/%d:" % i for i in range(1000)) + "$ORIGIN"
    torch(sp, elf([(DT_RPATH, "$ORIGIN/lib"), (DT_NEEDED, "libchain0.so")]))
    size = 0
    for k in range(512):
        dyn = [(DT_SONAME, "libchain%d.so" % k), (DT_RPATH, rpath)]
        if k < 511:
            dyn.append((DT_NEEDED, "libchain%d.so" % (k + 1)))
        data = elf(dyn)
        size += len(data)
        write(os.path.join(sp, "torch/lib/libchain%d.so" % k), data)
    yield "ELF: chain of 512 libraries, 1,000 RPATH folders each", root, size

    root, sp = image(tmp, "cache-16m")
    torch(sp, elf([(DT_NEEDED, "libc.so.6")]))
    n, strings = 65_536, bytearray()
    str_at = 48 + 24 * n
    head = b"glibc-ld.so.cache1.1" + struct.pack("<II", n, 0) + bytes([2]) + b"\0" * 19
    body = bytearray()
    for i in range(n):
        name = b"lib%07d.so.1" % (n - i) + b"x" * 100
        path = b"/usr/lib/x86_64-linux-gnu/" + name + b"/" + b"y" * 100
        body += struct.pack("<iIIIQ", 0x0303, str_at + len(strings), str_at + len(strings) + len(name) + 1, 0, 0)
        strings += name + b"\0" + path + b"\0"
    data = head + bytes(body) + bytes(strings)
    write(os.path.join(root, "etc/ld.so.cache"), data)
    yield "ld.so.cache of %d MiB: 65,536 distinct entries, 360 bytes of strings each" % (len(data) >> 20), root, len(data)

    for entries, length in ((100_000, 1 << 20), (60_000, 4000)):
        root, sp = image(tmp, "cache-%d" % entries)
        torch(sp, elf([(DT_NEEDED, "libc.so.6")]))
        data = cache(entries, b"a" * length)
        write(os.path.join(root, "etc/ld.so.cache"), data)
        yield "ld.so.cache: %d entries pointing at one %d-byte string" % (entries, length), root, len(data)


def whole_image(tmp):
    """Every bomb above in one image: torch (chain of 512, sparse sections), TensorFlow (long
    build_info values, NEEDED x65,000, 1,000 x 1,000 RPATH/NEEDED), jaxlib's METADATA, invalid
    UTF-8 in kern.log and os-release, the 60,000-entry ld.so.cache."""
    root, sp = image(tmp, "whole")
    rpath = "".join("/opt/chain/%d:" % i for i in range(1000)) + "$ORIGIN"
    torch(sp, elf([(DT_RPATH, "$ORIGIN/lib"), (DT_NEEDED, "libchain0.so")]))
    for k in range(512):
        dyn = [(DT_SONAME, "libchain%d.so" % k), (DT_RPATH, rpath)]
        if k < 511:
            dyn.append((DT_NEEDED, "libchain%d.so" % (k + 1)))
        write(os.path.join(sp, "torch/lib/libchain%d.so" % k), elf(dyn))
    data = bytearray(elf([(DT_NEEDED, "libc.so.6")], shoff=4096, shnum=0))
    data += b"\0" * (4096 + 64 - len(data))
    data[4096 + 32:4096 + 40] = struct.pack("<Q", 30_000_000)
    p = os.path.join(sp, "torch/lib/libtorch_global_deps.so")
    write(p, bytes(data))
    os.truncate(p, 4096 + 30_000_000 * 64)
    write(os.path.join(sp, "tensorflow-2.15.0.dist-info/METADATA"), b"Metadata-Version: 2.1\nName: tensorflow\nVersion: 2.15.0\n")
    write(os.path.join(sp, "tensorflow/python/platform/build_info.py"),
          b"build_info = {'cuda_version': '12.2', 'cudnn_version': '" + b"8" * 40000 + b"', 'is_cuda_build': True}\n")
    write(os.path.join(sp, "tensorflow/libtensorflow_framework.so.2"), elf([(DT_NEEDED, "x" * 200_000)] * 65_000))
    rp = ":".join("/opt/r/%d" % i for i in range(1000))
    write(os.path.join(sp, "tensorflow/python/_pywrap_tensorflow_internal.so"),
          elf([(DT_RPATH, rp)] + [(DT_NEEDED, "libn%d.so" % i) for i in range(1000)]))
    write(os.path.join(sp, "jaxlib-0.4.25.dist-info/METADATA"),
          b"Metadata-Version: 2.1\nName: jaxlib\nVersion: 0.4.25+cuda" + b"1" * 60000 + b"\n")
    bad = b"\xff-\xc3\x28-\xed\xa0\x80-\xc0\xaf"
    write(os.path.join(root, "var/log/kern.log"),
          b"Nov 26 10:00:00 h200 kernel: NVRM: Xid (PCI:0000:00:06.0): 79, pid=1, name=py" + bad + b", GPU has fallen off the bus.\n" * 1000)
    write(os.path.join(root, "etc/ld.so.cache"), cache(60_000, b"a" * 4000))
    return root


def measure(binary, args):
    r = subprocess.run(["/usr/bin/time", "-v", binary] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       errors="replace")
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+(?:\.\d+)?)$", r.stderr, re.M)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    seconds = (int(wall.group(1) or 0) * 60 + float(wall.group(2))) if wall else float("nan")
    return seconds, int(rss.group(1)) / 1024 if rss else float("nan"), r.returncode


def main():
    binary = os.path.abspath(sys.argv[1])
    print("| hostile input | file bytes | wall s | peak RSS MiB | exit |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="gpudoctor-hostile-") as tmp:
        for name, root, size in cases(tmp):
            wall, rss, code = measure(binary, ["check", "--json", "--root", root, "--driver", "none"])
            print("| %s | %s | %.2f | %.1f | %d |" % (name, format(size, ","), wall, rss, code), flush=True)
            shutil.rmtree(os.path.dirname(root))
        root = whole_image(tmp)
        wall, rss, code = measure(binary, ["check", "--json", "--root", root, "--driver", "none"])
        print("| **whole hostile image** (all of the above together) | | %.2f | %.1f | %d |" % (wall, rss, code), flush=True)
        for name, path in (("`check --from /dev/zero`", "/dev/zero"),):
            wall, rss, code = measure(binary, ["check", "--from", path])
            print("| %s | endless | %.2f | %.1f | %d |" % (name, wall, rss, code))


if __name__ == "__main__":
    main()
