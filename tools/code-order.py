#!/usr/bin/env python3
"""Writes release/code-order.txt: the functions a `certgate controller` process runs,
for the linker to place first (build.rs; docs/scale.md, "Code pages").

The kernel maps an executable's pages in 64 KB blocks around each page touched
(fault-around) and reads ahead megabytes of it, so the resident code of a process
says little about which functions ran. This tool turns both off for one run: it sets
the disk's read-ahead to 0, drops the binary from the page cache, runs the scale
benchmark against a real API server (the sandbox would be the same binary, read into
the cache by another process), and reads which pages of the controller's code became
resident (/proc/PID/pagemap). Every function on such a page is listed, in address
order. Needs root (read-ahead, pagemap) and a release build:

    cargo bench --bench scale --no-run
    CERTGATE_TEST_KUBECONFIG=... sudo -E tools/code-order.py [OUT]

The read-ahead is restored when the run ends. `tools/code-order.py --check` (no root,
no API server) says how many of the listed functions the release binary has: the
names carry a hash of their crate's build metadata, which changes when a dependency
does, and a name that no longer matches is skipped by the linker.
"""

import glob
import os
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target/release/certgate")
OUT = os.path.join(ROOT, "release/code-order.txt")


def read_ahead_file(path):
    dev = os.stat(path).st_dev
    block = f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}"
    for q in (f"{block}/queue/read_ahead_kb", f"{block}/../queue/read_ahead_kb"):
        if os.path.exists(q):
            return q
    sys.exit(f"no read_ahead_kb for the disk of {path}")


def drop_from_page_cache(path):
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def controller_pid(parent):
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        pid = cmdline.split("/")[2]
        try:
            argv = open(cmdline, "rb").read().split(b"\0")
            ppid = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        if int(ppid) == parent and len(argv) > 1 and argv[1] == b"controller":
            return pid
    return None


def resident_code_pages(pid, seen):
    """Adds the file offsets of the executable's resident code pages to `seen`."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            for line in open(f"/proc/{pid}/maps"):
                f = line.split()
                if len(f) < 6 or f[5] != exe or "x" not in f[1]:
                    continue
                start, end = (int(x, 16) for x in f[0].split("-"))
                offset = int(f[2], 16)
                pagemap.seek(start // 4096 * 8)
                entries = pagemap.read((end - start) // 4096 * 8)
                for i in range(len(entries) // 8):
                    if struct.unpack_from("<Q", entries, i * 8)[0] >> 63:
                        seen.add(offset + i * 4096)
    except OSError:
        pass


def functions_on(pages):
    """The functions of BINARY with a byte on one of `pages` (file offsets)."""
    segments = []
    for line in subprocess.run(["readelf", "-lW", BINARY], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.split()
        if f and f[0] == "LOAD" and "E" in f[6:-1]:
            segments.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))
    touched = set()
    for p in pages:
        for offset, vaddr, size in segments:
            if offset <= p < offset + size:
                touched.add((p - offset + vaddr) // 4096)
    symbols = []
    for line in subprocess.run(["nm", "-S", "--defined-only", BINARY], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwW" and int(f[1], 16) > 0:
            symbols.append((int(f[0], 16), int(f[1], 16), f[3]))
    symbols.sort()
    listed, size = [], 0
    for addr, length, name in symbols:
        if any(p in touched for p in range(addr // 4096, (addr + length - 1) // 4096 + 1)):
            listed.append(name)
            size += length
    total = sum(length for _, length, _ in symbols)
    print(f"{len(touched)} code pages touched ({len(touched) * 4 / 1024:.1f} MiB); "
          f"{len(listed)} of {len(symbols)} functions on them, {size / 2**20:.1f} of {total / 2**20:.1f} MiB")
    return listed


def check():
    listed = set(line.strip() for line in open(OUT) if line.strip())
    nm = subprocess.run(["nm", "--defined-only", BINARY], capture_output=True, text=True, check=True)
    present = set(line.split()[-1] for line in nm.stdout.splitlines())
    found = len(listed & present)
    print(f"{found} of the {len(listed)} functions of {os.path.relpath(OUT, ROOT)} are in {os.path.relpath(BINARY, ROOT)}")
    return found == len(listed)


def main():
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if check() else 1)
    if not os.environ.get("CERTGATE_TEST_KUBECONFIG"):
        sys.exit("CERTGATE_TEST_KUBECONFIG: a real API server is needed (see the docstring)")
    benches = sorted(glob.glob(os.path.join(ROOT, "target/release/deps/scale-*")), key=os.path.getmtime)
    benches = [b for b in benches if os.access(b, os.X_OK) and not b.endswith(".d")]
    if not benches or not os.path.exists(BINARY):
        sys.exit("build first: cargo bench --bench scale --no-run")
    env = dict(os.environ, SCALE_CERTS="2000", SCALE_SECRETS="2000", SCALE_SECRET_KB="10")
    read_ahead = read_ahead_file(BINARY)
    saved = open(read_ahead).read().strip()
    seen = set()
    try:
        open(read_ahead, "w").write("0")
        drop_from_page_cache(BINARY)
        bench = subprocess.Popen([benches[-1]], env=env)
        while bench.poll() is None:
            pid = controller_pid(bench.pid)
            if pid:
                resident_code_pages(pid, seen)
            time.sleep(1)
    finally:
        open(read_ahead, "w").write(saved)
    if bench.returncode != 0 or not seen:
        sys.exit(f"the benchmark failed ({bench.returncode}) or no controller was seen")
    out = sys.argv[1] if len(sys.argv) > 1 else OUT
    with open(out, "w") as f:
        f.write("\n".join(functions_on(seen)) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
