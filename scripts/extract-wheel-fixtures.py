#!/usr/bin/env python3
"""Extracts the real metadata of real framework wheels into tests/fixtures/wheels/ (issue 4).

For each (distribution, version) in WHEELS below it picks the Linux x86_64 wheel from the package index
pip is configured with (CPython 3.11, else 3.12, else 3.10, else a py3 wheel), then reads only the members
it needs with HTTP range requests (the zip's central directory at the end, then each member), so a 600 MB
TensorFlow wheel costs a few MB. When the file host does not answer Range requests it falls back to
`pip download --no-deps` into a temporary folder and deletes the wheel afterwards.

Written per fixture, tests/fixtures/wheels/<dist>-<version>/ (paths as inside the wheel):
  *.dist-info/          everything except RECORD in full; RECORD keeps only the lines of shared objects
                        and of the version files below
  version/build files   torch/version.py, tensorflow/python/platform/build_info.py, jax/version.py,
                        jaxlib/version.py, jax_plugins/*/__init__.py, jax_cuda*_plugin/version.py, ...
  files.txt             every shared object in the wheel: "<path>\t<uncompressed size>"
  readelf.txt           `readelf -d` lines NEEDED/SONAME/RPATH/RUNPATH of the main shared objects, in
                        blocks "### <path>" (the format scripts/elf-toml-from-readelf.py reads); members
                        are taken in priority order while their compressed size fits READELF_BUDGET
  wheel.txt             the wheel's file name, URL, sha256 from the index, size, upload time, fetch date
and tests/fixtures/wheels/README.md, one line per fixture.

    scripts/extract-wheel-fixtures.py [--out DIR] [--only DIST[-VERSION] ...] [--no-readelf]

Needs only the Python standard library and binutils' readelf.
"""
import argparse
import datetime
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
import zlib

# ---------------------------------------------------------------------------------------------------
# What to extract. Versions are concrete so that a rerun gives the same fixtures; "newest" entries
# were the newest releases on PyPI when the list was written (2026-11-26). Profiles:
#   full      dist-info + version files + files.txt + readelf.txt
#   version   dist-info + version files + files.txt (no readelf)
#   distinfo  dist-info + files.txt
WHEELS = [
    # TensorFlow: 2.10 (last with CUDA 11.2 + native Windows GPU era), 2.15 (first [and-cuda] with
    # cuDNN 8.9), 2.16 (Keras 3, clang build), 2.18, and the newest. Each METADATA carries the
    # [and-cuda] extra's nvidia-* pins (2.15 onward), so "with [and-cuda]" needs no other wheel.
    ("tensorflow", "2.10.0", "full"),
    ("tensorflow", "2.15.0", "full"),
    ("tensorflow", "2.16.1", "full"),
    ("tensorflow", "2.18.0", "full"),
    ("tensorflow", "2.21.0", "full"),          # newest
    ("tensorflow-cpu", "2.18.0", "full"),
    # The CUDA wheels tensorflow 2.15.0[and-cuda] pins (checked against its METADATA at run time).
    ("nvidia-cudnn-cu12", "8.9.4.25", "distinfo", ("tensorflow", "2.15.0")),
    ("nvidia-cuda-runtime-cu12", "12.2.140", "distinfo", ("tensorflow", "2.15.0")),
    # PyTorch, the builds pip installs from PyPI (download.pytorch.org, with +cpu and +cu118, is not
    # reachable from where this runs): 2.3.1 is cu121, 2.6.0 cu124, 2.7.1 cu126, 2.8.0 cu128.
    ("torch", "2.3.1", "full"),
    ("torch", "2.6.0", "full"),
    ("torch", "2.7.1", "full"),
    ("torch", "2.8.0", "full"),
    ("torch", "2.15.0", "full"),               # newest
    ("torchvision", "0.18.1", "version"),      # matches torch 2.3.1
    ("torchaudio", "2.3.1", "version"),
    ("torchvision", "0.29.2", "version"),      # newest
    ("torchaudio", "2.11.0", "version"),       # newest (no torchaudio release after 2.11)
    # JAX: 0.4.30 with the CUDA 12 plugin and PJRT; 0.7.2 and the newest with the CUDA 13 ones.
    ("jax", "0.4.30", "full"),
    ("jaxlib", "0.4.30", "full"),
    ("jax-cuda12-plugin", "0.4.30", "full"),
    ("jax-cuda12-pjrt", "0.4.30", "full"),
    ("jax", "0.7.2", "full"),
    ("jaxlib", "0.7.2", "full"),
    ("jax-cuda13-plugin", "0.7.2", "full"),
    ("jax-cuda13-pjrt", "0.7.2", "full"),
    ("jax", "0.12.0.1", "full"),               # newest
    ("jaxlib", "0.12.0.1", "full"),
    ("jax-cuda13-plugin", "0.12.0.1", "full"),
    ("jax-cuda13-pjrt", "0.12.0.1", "full"),
    # Keras 3 (newest) and tf-keras for TensorFlow 2.18.
    ("keras", "3.15.1", "version"),
    ("tf-keras", "2.18.0", "version"),
]

# With --machine aarch64 (arm64 hosts: GH200, Graviton) these are extracted, into <dist>-<version>-aarch64/.
WHEELS_AARCH64 = [
    ("torch", "2.15.0", "full"),               # newest; PyPI's aarch64 build is CUDA (+cu132) too
]
MACHINE = "x86_64"                          # the wheels' CPU (--machine)

PYTHON_PREFERENCE = ["311", "312", "310"]   # CPython tags tried in this order
READELF_BUDGET = 100 * 1024 * 1024          # compressed bytes fetched for readelf, per wheel
# The PJRT wheel is one shared object; the newest one is 135 MB compressed and worth reading.
READELF_BUDGET_OVERRIDE = {"jax-cuda13-pjrt": 140 * 1024 * 1024}

# Version/build files: regexes over member paths, per distribution.
VERSION_FILES = {
    "tensorflow": [r"tensorflow/python/platform/build_info\.py"],
    "tensorflow-cpu": [r"tensorflow/python/platform/build_info\.py"],
    "torch": [r"torch/version\.py"],
    "torchvision": [r"torchvision/version\.py"],
    "torchaudio": [r"torchaudio/version\.py"],
    "jax": [r"jax/version\.py"],
    "jaxlib": [r"jaxlib/version\.py"],
    "jax-cuda12-plugin": [r"jax_cuda12_plugin/(__init__|version)\.py", r"jax_plugins/[^/]+/(__init__|version)\.py"],
    "jax-cuda12-pjrt": [r"jax_plugins/[^/]+/(__init__|version)\.py", r"jax_cuda12_plugin/version\.py"],
    "jax-cuda13-plugin": [r"jax_cuda13_plugin/(__init__|version)\.py", r"jax_plugins/[^/]+/(__init__|version)\.py"],
    "jax-cuda13-pjrt": [r"jax_plugins/[^/]+/(__init__|version)\.py", r"jax_cuda13_plugin/version\.py"],
    "keras": [r"keras/src/version\.py"],
    "tf-keras": [r"tf_keras/__init__\.py", r"tf_keras/src/__init__\.py"],
}
VERSION_FILE_MAX = 64 * 1024  # a "version file" larger than this is not kept

# Shared objects for readelf.txt, in priority order (each regex's matches in path order).
READELF_MEMBERS = {
    "tensorflow": [r"tensorflow/libtensorflow_framework\.so\.2", r"tensorflow/libtensorflow_cc\.so\.2",
                   r"tensorflow/python/_pywrap_tensorflow_internal\.so"],
    "torch": [r"torch/lib/libtorch_global_deps\.so", r"torch/_C\.[^/]*\.so", r"torch/lib/libc10\.so",
              r"torch/lib/libc10_cuda\.so", r"torch/lib/libtorch\.so", r"torch/lib/libcaffe2_nvrtc\.so",
              r"torch/lib/libshm\.so", r"torch/lib/libtorch_python\.so", r"torch/lib/libtorch_cuda\.so",
              r"torch/lib/libtorch_cpu\.so", r"torch/lib/[^/]*\.so[.0-9]*"],
    "jaxlib": [r"jaxlib/[^/]*\.so[.0-9]*", r"jaxlib/cuda/[^/]*\.so"],
    "jax-cuda12-plugin": [r"jax_cuda12_plugin/[^/]*\.so"],
    "jax-cuda13-plugin": [r"jax_cuda13_plugin/[^/]*\.so"],
    "jax-cuda12-pjrt": [r"jax_plugins/[^/]+/[^/]*\.so"],
    "jax-cuda13-pjrt": [r"jax_plugins/[^/]+/[^/]*\.so"],
}
READELF_MEMBERS["tensorflow-cpu"] = READELF_MEMBERS["tensorflow"]

SO_RE = re.compile(r"\.so(\.[0-9]+)*$")
READELF_KEEP = re.compile(r"\((NEEDED|SONAME|RPATH|RUNPATH)\)")
UA = "gpudoctor-extract-wheel-fixtures/1 (+urllib)"


# ---------------------------------------------------------------------------------------------------
# Index access

def index_url():
    """The index pip uses: PIP_INDEX_URL, else `pip config`'s index-url, else PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].rstrip("/") + "/"
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                             text=True, timeout=60).stdout
        for line in out.splitlines():
            key, _, value = line.partition("=")
            if key.strip().endswith("index-url"):
                return value.strip().strip("'\"").rstrip("/") + "/"
    except Exception:
        pass
    return "https://pypi.org/simple/"


def http_get(url, headers=None, timeout=180):
    req = urllib.request.Request(url, headers={"User-Agent": UA, **(headers or {})})
    return urllib.request.urlopen(req, timeout=timeout)


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def project_files(index, dist):
    """[{filename, url, sha256, size, upload_time}] from the simple API (JSON, else HTML)."""
    url = urllib.parse.urljoin(index, normalize(dist) + "/")
    with http_get(url, {"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"}) as r:
        ctype = r.headers.get("Content-Type", "")
        body = r.read()
    files = []
    if "json" in ctype:
        for f in json.loads(body)["files"]:
            files.append({"filename": f["filename"], "url": urllib.parse.urljoin(url, f["url"]),
                          "sha256": f.get("hashes", {}).get("sha256"), "size": f.get("size"),
                          "upload_time": f.get("upload-time"), "yanked": bool(f.get("yanked"))})
    else:
        for m in re.finditer(r'<a[^>]*href="([^"]+)"[^>]*>([^<]+)</a>', body.decode()):
            href, name = m.group(1).replace("&amp;", "&"), m.group(2).strip()
            link, _, frag = urllib.parse.urljoin(url, href).partition("#")
            sha = frag[len("sha256="):] if frag.startswith("sha256=") else None
            files.append({"filename": name, "url": link, "sha256": sha, "size": None,
                          "upload_time": None, "yanked": "data-yanked" in m.group(0)})
    return files


def fixture_name(dist, version):
    """The fixture folder: DIST-VERSION, with -aarch64 for the arm64 wheels."""
    return f"{normalize(dist)}-{version}" + ("" if MACHINE == "x86_64" else f"-{MACHINE}")


def wheel_tags(filename):
    """(version, python tag, abi tag, platform tag) of a wheel file name."""
    parts = filename[:-4].split("-")
    return parts[1], parts[-3], parts[-2], parts[-1]


def pick_wheel(files, version):
    """The Linux wheel of that version for MACHINE, CPython per PYTHON_PREFERENCE, else abi3, else py3."""
    cands = []
    for f in files:
        if not f["filename"].endswith(".whl") or f["yanked"]:
            continue
        ver, py, abi, plat = wheel_tags(f["filename"])
        if ver != version:
            continue
        plats = plat.split(".")
        if plat != "any" and not any(p.endswith(MACHINE) and "linux" in p for p in plats):
            continue
        rank = None
        pys = py.split(".")
        for i, v in enumerate(PYTHON_PREFERENCE):
            if "cp" + v in pys and abi == "cp" + v:
                rank = i
                break
        if rank is None and abi == "abi3":
            rank = len(PYTHON_PREFERENCE)
        if rank is None and abi == "none" and any(p in ("py3", "py2.py3") or p.startswith("py3") for p in pys):
            rank = len(PYTHON_PREFERENCE) + (2 if plat == "any" else 1)
        if rank is not None:
            cands.append((rank, f["filename"], f))
    if not cands:
        return None
    cands.sort(key=lambda c: (c[0], c[1]))
    return cands[0][2]


# ---------------------------------------------------------------------------------------------------
# Reading a remote zip with range requests

class HTTPRangeFile(io.RawIOBase):
    """A seekable read-only file over HTTP Range requests, with a small read-ahead buffer."""

    def __init__(self, url, size):
        self.url, self.size, self.pos = url, size, 0
        self.buf_start, self.buf = 0, b""
        self.requests, self.fetched = 0, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=0):
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def fetch(self, start, end):  # [start, end)
        with http_get(self.url, {"Range": f"bytes={start}-{end - 1}"}) as r:
            if r.status != 206:
                raise IOError(f"no range support ({r.status})")
            data = r.read()
        self.requests += 1
        self.fetched += len(data)
        return data

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        if n <= 0:
            return b""
        s, e = self.pos, self.pos + n
        if not (self.buf_start <= s and e <= self.buf_start + len(self.buf)):
            want = min(self.size, max(e, s + 256 * 1024))
            self.buf_start, self.buf = s, self.fetch(s, want)
        out = self.buf[s - self.buf_start:e - self.buf_start]
        self.pos = e
        return out

    def readinto(self, b):
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def stream(self, start, length, chunk=1 << 20):
        """Yields the bytes [start, start+length) from one streaming request."""
        with http_get(self.url, {"Range": f"bytes={start}-{start + length - 1}"}, timeout=600) as r:
            if r.status != 206:
                raise IOError(f"no range support ({r.status})")
            self.requests += 1
            left = length
            while left > 0:
                data = r.read(min(chunk, left))
                if not data:
                    raise IOError("short read")
                self.fetched += len(data)
                left -= len(data)
                yield data


def supports_range(url, size):
    try:
        with http_get(url, {"Range": f"bytes={size - 16}-{size - 1}"}) as r:
            return r.status == 206 and len(r.read()) == 16
    except Exception:
        return False


def member_data_offset(raw, info):
    """Offset of a member's compressed data: after its local header, name and extra field."""
    raw.seek(info.header_offset)
    hdr = raw.read(30)
    if hdr[:4] != b"PK\x03\x04":
        raise IOError(f"bad local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", hdr[26:30])
    return info.header_offset + 30 + name_len + extra_len


def copy_member(zf, raw, info, dest):
    """Writes one member to dest, streaming large ones straight from the HTTP response."""
    if raw is None or info.compress_size < 4 * 1024 * 1024:
        with zf.open(info) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
        return
    off = member_data_offset(raw, info)
    if info.compress_type == zipfile.ZIP_DEFLATED:
        dec = zlib.decompressobj(-15)
    elif info.compress_type != zipfile.ZIP_STORED:
        raise IOError(f"compression {info.compress_type} of {info.filename}")
    crc = 0
    with open(dest, "wb") as out:
        for chunk in raw.stream(off, info.compress_size):
            data = dec.decompress(chunk) if info.compress_type == zipfile.ZIP_DEFLATED else chunk
            crc = zlib.crc32(data, crc)
            out.write(data)
        if info.compress_type == zipfile.ZIP_DEFLATED:
            data = dec.flush()
            crc = zlib.crc32(data, crc)
            out.write(data)
    if crc != info.CRC:
        raise IOError(f"CRC mismatch for {info.filename}")


# ---------------------------------------------------------------------------------------------------

def readelf_lines(path):
    out = subprocess.run(["readelf", "-d", "-W", path], capture_output=True, text=True).stdout
    return [line.rstrip() for line in out.splitlines() if READELF_KEEP.search(line)]


def parse_requires(metadata):
    return [v.strip() for k, _, v in (line.partition(":") for line in metadata.splitlines())
            if k == "Requires-Dist"]


def extract(dist, version, profile, pinned_by, index, out_root, tmp, do_readelf, log):
    files = project_files(index, dist)
    wheel = pick_wheel(files, version)
    if wheel is None:
        raise RuntimeError(f"no Linux {MACHINE} wheel of {dist} {version} on {index}")
    dest = os.path.join(out_root, fixture_name(dist, version))
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    _, py, abi, plat = wheel_tags(wheel["filename"])
    log(f"{dist} {version}: {wheel['filename']} ({(wheel['size'] or 0) / 1e6:.0f} MB)")

    size = wheel["size"]
    if size is None:
        with http_get(wheel["url"], {"Range": "bytes=0-0"}) as r:
            size = int(r.headers["Content-Range"].rsplit("/", 1)[1])
    local = None
    if supports_range(wheel["url"], size):
        raw = HTTPRangeFile(wheel["url"], size)
        method = "HTTP range requests"
        zf = zipfile.ZipFile(raw)  # unbuffered: copy_member also reads raw directly
    else:
        raw = None
        method = "pip download"
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "-d", tmp, wheel["url"]], check=True)
        local = os.path.join(tmp, wheel["filename"])
        if wheel["sha256"]:
            h = hashlib.sha256()
            with open(local, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            if h.hexdigest() != wheel["sha256"]:
                raise RuntimeError(f"sha256 mismatch for {wheel['filename']}")
        zf = zipfile.ZipFile(local)

    try:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        distinfo = [n for n in names if re.match(r"[^/]+\.dist-info/", n) and not n.endswith("/")]
        distinfo_dir = distinfo[0].split("/")[0] if distinfo else None

        kept_version_files = []
        if profile in ("full", "version"):
            pats = [re.compile(p + "$") for p in VERSION_FILES.get(normalize(dist), [])]
            for info in infos:
                if any(p.match(info.filename) for p in pats) and info.file_size <= VERSION_FILE_MAX:
                    kept_version_files.append(info.filename)

        # dist-info (RECORD filtered) and version files
        written = []
        for info in infos:
            n = info.filename
            if n not in distinfo and n not in kept_version_files:
                continue
            target = os.path.join(dest, n)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            data = zf.read(info)
            if n == f"{distinfo_dir}/RECORD":
                lines = data.decode().splitlines()
                keep = [line for line in lines
                        if SO_RE.search(line.split(",")[0]) or line.split(",")[0] in kept_version_files]
                data = ("\n".join(keep) + "\n").encode() if keep else b""
                written.append(f"RECORD ({len(keep)} of {len(lines)} lines)")
            else:
                written.append(n[len(distinfo_dir) + 1:] if n.startswith(distinfo_dir + "/") else n)
            with open(target, "wb") as f:
                f.write(data)

        # files.txt: every shared object
        sos = sorted((i for i in infos if SO_RE.search(i.filename)), key=lambda i: i.filename)
        with open(os.path.join(dest, "files.txt"), "w") as f:
            for i in sos:
                f.write(f"{i.filename}\t{i.file_size}\n")

        # the pins of whoever asked for this wheel
        if pinned_by:
            pdist, pver = pinned_by
            meta = os.path.join(out_root, f"{normalize(pdist)}-{pver}")
            mfile = next((os.path.join(r, "METADATA") for r, _, fs in os.walk(meta) if "METADATA" in fs), None)
            if mfile:
                reqs = parse_requires(open(mfile).read())
                pin = [r for r in reqs if re.match(re.escape(dist) + r"\s*(\[|==|\()", r, re.I)]
                if pin and f"=={version}" not in pin[0].replace(" ", ""):
                    log(f"  WARNING: {pdist} {pver} pins {pin[0]!r}, not {version}")

        # readelf.txt
        readelf_note = ""
        if profile == "full" and do_readelf and READELF_MEMBERS.get(normalize(dist)):
            budget = READELF_BUDGET_OVERRIDE.get(normalize(dist), READELF_BUDGET)
            chosen, skipped, seen = [], [], set()
            for p in READELF_MEMBERS[normalize(dist)]:
                rx = re.compile(p + "$")
                for i in sos:
                    if i.filename in seen or not rx.match(i.filename):
                        continue
                    seen.add(i.filename)
                    if i.compress_size <= budget:
                        chosen.append(i)
                        budget -= i.compress_size
                    else:
                        skipped.append(i)
            blocks = []
            for i in chosen:
                tmpfile = os.path.join(tmp, os.path.basename(i.filename))
                try:
                    copy_member(zf, raw, i, tmpfile)
                    lines = readelf_lines(tmpfile)
                finally:
                    if os.path.exists(tmpfile):
                        os.remove(tmpfile)
                blocks.append(f"### {i.filename}\n" + "".join(line + "\n" for line in lines))
            if blocks:
                with open(os.path.join(dest, "readelf.txt"), "w") as f:
                    f.write("".join(blocks))
            readelf_note = f"readelf of {len(chosen)} shared objects"
            if skipped:
                readelf_note += "; not read (over the %d MB budget): %s" % (
                    READELF_BUDGET_OVERRIDE.get(normalize(dist), READELF_BUDGET) >> 20,
                    ", ".join(f"{os.path.basename(i.filename)} ({i.compress_size / 1e6:.0f} MB compressed)"
                              for i in skipped))
    finally:
        zf.close()
        if local and os.path.exists(local):
            os.remove(local)

    fetched = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    with open(os.path.join(dest, "wheel.txt"), "w") as f:
        f.write(f"filename = {wheel['filename']}\nurl = {wheel['url']}\nsha256 = {wheel['sha256']}\n"
                f"size = {size}\nupload_time = {wheel['upload_time']}\npython_tag = {py}\nabi_tag = {abi}\n"
                f"platform_tag = {plat}\nfetched = {fetched}\nmethod = {method}\n")
    if raw is not None:
        log(f"  {raw.requests} requests, {raw.fetched / 1e6:.1f} MB read")
    return {"dir": os.path.basename(dest), "wheel": wheel, "py": py, "fetched": fetched, "written": written,
            "version_files": kept_version_files, "n_so": len(sos), "readelf": readelf_note, "method": method}


README_HEAD = """# Real wheel metadata

Written by `scripts/extract-wheel-fixtures.py` (rerun it to refresh; it replaces each fixture folder it
extracts and rewrites this file for the fixtures it extracted). Each folder
`<dist>-<version>/` keeps the wheel's own paths: its `*.dist-info/` (RECORD cut down to the lines of
shared objects and of the kept version files), the framework's version/build files, `files.txt` (every
shared object in the wheel with its uncompressed size), `readelf.txt` (`readelf -d` NEEDED, SONAME, RPATH
and RUNPATH of the main shared objects, in `### <path>` blocks) and `wheel.txt` (where it came from).
Wheels are Linux x86_64, CPython 3.11 where one exists (else 3.12, else 3.10, else py3); members were read
with HTTP range requests against files.pythonhosted.org, so no wheel was downloaded whole. The sha256 is
the index's hash of the whole wheel.

"""

README_NOTES = """
## Notes

Versions: "newest" on PyPI on 2026-11-26 was tensorflow 2.21.0, torch 2.15.0 (its PyPI build is
`2.15.0+cu132`), torchvision 0.29.2 (uploaded with torch 2.15.0, built `+cu132`, but its METADATA asks
only `torch>=2.14.0`), torchaudio 2.11.0 (the last torchaudio release; its METADATA has no `Requires-Dist` at all), jax,
jaxlib and the CUDA 13 plugin/PJRT 0.12.0.1 (a fix release of 0.12.0), keras 3.15.1. TensorFlow 2.16 is
2.16.1 (2.16.0 never left rc0). tensorflow 2.10.0 has no CPython 3.11 wheel, so it is cp310; jaxlib
0.12.0.1 and jax-cuda13-plugin 0.12.0.1 need Python >= 3.12, so they are cp312; torchvision 0.29.2 and
the PJRT wheels are `py3-none` and jax/keras/tf-keras `py3-none-any`.

Not fetched: torch `+cpu` and `+cu118` builds (download.pytorch.org is not reachable from where the
script ran; the PyPI default builds here are cu121, cu124, cu126, cu128 and cu132). `tensorflow[and-cuda]`
is not a wheel: its pins are the `extra == 'and-cuda'` lines of each tensorflow METADATA (2.15.0 onward;
2.10.0 has no such extra); of the wheels it pins only nvidia-cudnn-cu12 8.9.4.25 and
nvidia-cuda-runtime-cu12 12.2.140 (the 2.15.0 pins) were read, dist-info and files.txt only.

arm64: `torch-2.15.0-aarch64/` is PyPI's manylinux_2_28_aarch64 wheel of torch 2.15.0
(`scripts/extract-wheel-fixtures.py --machine aarch64`). It is a CUDA build too (version.py
`2.15.0+cu132`, cuda 13.2), its METADATA is byte for byte the x86-64 wheel's (the nvidia pins carry only
`platform_system == "Linux"`), and every RPATH readelf shows is the x86-64 wheel's; it adds NVPL BLAS and
LAPACK and the Arm Compute Library in torch/lib, its extension is `_C.cpython-311-aarch64-linux-gnu.so`,
and its objects need `ld-linux-aarch64.so.1`.

readelf not taken (compressed member over the per-wheel budget; see each line above): torch's
`libtorch_cuda.so` (362 to 666 MB) and `libtorch_cpu.so` (111 to 131 MB), TensorFlow's
`libtensorflow_cc.so.2` (145 to 434 MB) and, in 2.10.0, `_pywrap_tensorflow_internal.so` (487 MB).
For torch 2.3.1 and tensorflow 2.15.0 the readelf of every main object, those included, is in
`tests/hosts/venv-torch231-cu121/readelf/` and `tests/hosts/venv-tf215-and-cuda/readelf/`.
torchvision, torchaudio, keras, tf-keras and the nvidia wheels get no readelf by design.

Worth knowing when reading these:
- The PJRT wheels' `jax_plugins/xla_cuda*/version.py` is not stamped at release
  (`_release_version: str | None = None`): imported, it would report `<version>.dev<today>`. Read the
  version from the dist-info. The jax, jaxlib and jax_cuda*_plugin version.py files are stamped.
- tensorflow-cpu 2.18.0's METADATA declares the `and-cuda` extra with the same nvidia pins as
  tensorflow 2.18.0; only build_info.py (`is_cuda_build: False`, no CUDA keys) tells it is CPU-only.
- tensorflow 2.21.0's build_info.py still says CUDA 12.5.1 / cuDNN 9 / sm_60..compute_90 like 2.18.0,
  but its [and-cuda] pins are ranges (`nvidia-cudnn-cu12<10.0,>=9.3.0.75`) where 2.15 to 2.18 pin `==`.
- torch 2.15.0 depends on `cuda-toolkit[cublas,cudart,...]==13.2.2` and nvidia-*-cu13 wheels, and its
  RPATH points at `$ORIGIN/../../nvidia/cu13/lib` (one folder for the toolkit libraries) plus
  `nvidia/cudnn/lib`, `nvidia/nccl/lib`, `nvidia/nvshmem/lib`, `nvidia/cusparselt/lib`.
- jax-cuda13-plugin's `with-cuda` extra names unsuffixed wheels (`nvidia-cublas`, `nvidia-cuda-runtime`,
  ...) except `nvidia-cudnn-cu13`, `nvidia-nccl-cu13`, `nvidia-nvshmem-cu13`; `jax[cuda]` still means
  the CUDA 12 plugin in 0.12.0.1. The CUDA 13 PJRT's RPATH also points at `nvidia/cu13/lib`; no jax
  shared object has a CUDA library in NEEDED (the plugin dlopens them).
- torchaudio 2.11.0 is `+cu130` while torch 2.15.0 and torchvision 0.29.2 are `+cu132`.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "wheels"))
    ap.add_argument("--only", nargs="*", help="DIST or DIST-VERSION to extract (default: all)")
    ap.add_argument("--no-readelf", action="store_true")
    ap.add_argument("--machine", choices=["x86_64", "aarch64"], default="x86_64",
                    help="the wheels' CPU (aarch64: the WHEELS_AARCH64 list, into DIST-VERSION-aarch64/)")
    args = ap.parse_args()
    global MACHINE
    MACHINE = args.machine
    wheels = WHEELS if MACHINE == "x86_64" else WHEELS_AARCH64
    out_root = os.path.abspath(args.out)
    os.makedirs(out_root, exist_ok=True)
    index = index_url()
    log = lambda s: print(s, file=sys.stderr, flush=True)
    log(f"index: {index}")

    results, failures = [], []
    with tempfile.TemporaryDirectory(prefix="gpudoctor-wheels-") as tmp:
        for entry in wheels:
            dist, version, profile = entry[:3]
            pinned_by = entry[3] if len(entry) > 3 else None
            key = f"{normalize(dist)}-{version}"
            if args.only and normalize(dist) not in args.only and key not in args.only:
                continue
            try:
                results.append((entry, extract(dist, version, profile, pinned_by, index, out_root, tmp,
                                               not args.no_readelf, log)))
            except Exception as e:  # keep going; report at the end
                log(f"FAILED {dist} {version}: {e}")
                failures.append((entry, str(e)))

    # README: merge with lines of fixtures not extracted this run
    readme = os.path.join(out_root, "README.md")
    old = {}
    if os.path.exists(readme):
        for line in open(readme):
            m = re.match(r"- `([^`]+)/`", line)
            if m:
                old[m.group(1)] = line.rstrip("\n")
    for entry, r in results:
        w = r["wheel"]
        what = ["dist-info"] + r["version_files"] + ["files.txt (%d .so)" % r["n_so"]]
        if r["readelf"]:
            what.append(r["readelf"])
        old[r["dir"]] = (f"- `{r['dir']}/`: `{w['filename']}` sha256 `{w['sha256']}`, fetched {r['fetched']}"
                         f" ({r['method']}); {', '.join(what)}")
    order = [f"{normalize(e[0])}-{e[1]}" for e in WHEELS] + [f"{normalize(e[0])}-{e[1]}-aarch64" for e in WHEELS_AARCH64]
    lines = sorted(old.values(), key=lambda l: (order.index(re.match(r"- `([^`]+)/`", l).group(1))
                                                 if re.match(r"- `([^`]+)/`", l).group(1) in order else 999, l))
    with open(readme, "w") as f:
        f.write(README_HEAD + "## Fixtures\n\n" + "\n".join(lines) + "\n" + README_NOTES)
    for entry, err in failures:
        log(f"not extracted: {entry[0]} {entry[1]}: {err}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
