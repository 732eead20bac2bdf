"""Sandbox throughput: warm workers vs a fresh interpreter per call, same isolation.

    python scripts/bench_sandbox.py                      # both backends, markdown table
    python scripts/bench_sandbox.py --backends bwrap --calls 400 --fresh-calls 20
    python scripts/bench_sandbox.py --png-level 6        # zlib's default PNG level (before the change)
    python scripts/bench_sandbox.py --attacks            # the attack list with each backend's outcome

The program is a typical V-Thinker/Thyme tool call: open the 448x448 input, crop the centre,
zoom it back 2x (bicubic), save a PNG to output_dir, print its path. The input is a rendered
diagram (V-Thinker's domain; `--image photo` for a noisy photo-like one, PNG-bound). Clients are threads
(`--clients`, default 2 = one per core); "fresh" starts a new sandboxed worker for every call
(bwrap or plain process + interpreter + PIL/numpy imports + the same per-call confinement).
Warm rows: "fork per call" is the default (calls_per_process=1, a fresh confined process per
call); "reused process" is calls_per_process=--reuse (no fork per call; see the README).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import socket
import stat
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vrl.sandbox import SandboxPool, make_sandbox  # noqa: E402
from vrl.sandbox.factory import resolve  # noqa: E402
from vrl.sandbox.preload import png_default  # noqa: E402

PROGRAM = """
from PIL import Image
import os
img = Image.open(image_path)
w, h = img.size
crop = img.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4)).resize((w, h), Image.BICUBIC)
processed_path = os.path.join(output_dir, "zoom.png")
crop.save(processed_path)
print(processed_path)
"""
NOOP = "print('ok')"
LIMITS = dict(cpu_s=10, wall_s=10, memory_mb=1024)


def make_image(path: Path, kind: str) -> Path:
    """448x448 input. "diagram": a rendered geometry figure like V-Thinker's (flat colours, lines,
    labels). "photo": gradients + shapes + noise, the expensive case for PNG decode/encode."""
    rng = np.random.default_rng(0)
    if kind == "photo":
        y, x = np.mgrid[0:448, 0:448]
        arr = np.stack([x * 255 // 447, y * 255 // 447, (x + y) * 255 // 894], -1).astype(np.int16)
        arr += rng.integers(-12, 13, arr.shape)
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    else:
        img = Image.new("RGB", (448, 448), "white")
    draw = ImageDraw.Draw(img)
    for i in range(12):
        c = tuple(int(v) for v in rng.integers(0, 200, 3))
        draw.ellipse((30 * i, 20 + 25 * i, 30 * i + 60, 80 + 25 * i), outline=c, width=3)
        draw.line((0, 37 * i, 447, 447 - 37 * i), fill=c, width=2)
        draw.text((35 * i + 5, 400 - 30 * i), chr(65 + i), fill=(0, 0, 0))
    img.save(path)
    return path


def in_process(program: str, image: Path, png_level: int | None, n: int = 50) -> float:
    """The program alone, no sandbox: calls/s on one core (the floor under any sandbox)."""
    if png_level is not None:
        png_default(Image, png_level)
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        for _ in range(n):
            exec(program, {"image_path": str(image), "output_dir": out, "print": lambda *a: None})
        return n / (time.perf_counter() - t)


def drive(call, n: int, clients: int) -> tuple[float, list[float], float]:
    """Run `call()` n times from `clients` threads; (calls/s, latencies, CPU seconds per call)."""
    latencies: list[float] = []
    lock = threading.Lock()
    left = [n]

    def client() -> None:
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            t = time.perf_counter()
            call()
            with lock:
                latencies.append(time.perf_counter() - t)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    c0, t0 = cpu_seconds(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return n / wall, latencies, (cpu_seconds() - c0) / n


def cpu_seconds() -> float:
    """CPU time of this process and of every process it started (live or reaped, at any depth)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))  # ppid, u+s+cu+cs
    tick = os.sysconf("SC_CLK_TCK")
    frontier, seen = [os.getpid()], set()
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, ticks) in stats.items():
            if ppid == parent and pid not in seen:
                seen.add(pid)
                frontier.append(pid)
                total += ticks / tick
    return total


def check(r, program: str) -> None:
    if r.error or len(r.images) != (program == PROGRAM):
        raise RuntimeError(f"benchmark call failed: {r}")


def bench(
    backend: str,
    program: str,
    image: Path,
    calls: int,
    fresh_calls: int,
    clients: int,
    reuse: int,
    png_level: int | None,
) -> list[str]:
    rows = []
    modes = [("warm, fork per call", 1)] + (
        [(f"warm, reused process ({reuse} calls)", reuse)] if reuse > 1 else []
    )
    for mode, per_process in modes:
        kwargs = dict(LIMITS, calls_per_process=per_process, png_compress_level=png_level)
        with make_sandbox(backend=backend, workers=clients, **kwargs) as sb:
            for _ in range(20):  # warm-up
                check(sb.execute(program, [image]), program)
            rate, lat, cpu = drive(lambda: check(sb.execute(program, [image]), program), calls, clients)
        rows.append(_row(backend, mode, calls, clients, rate, lat, cpu))
    if fresh_calls == 0:
        return rows
    chosen, policy, start = resolve(backend, **LIMITS, png_compress_level=png_level)

    def fresh() -> None:
        with SandboxPool(chosen, policy, start, 1, None) as one:
            check(one.execute(program, [image]), program)

    rate, lat, cpu = drive(fresh, fresh_calls, clients)
    # bwrap's exited sandboxes do not report their CPU time to us: only the process backend's do.
    cpu_or_none = None if chosen == "bwrap" else cpu
    rows.append(_row(backend, "fresh interpreter per call", fresh_calls, clients, rate, lat, cpu_or_none))
    return rows


def _row(
    backend: str, mode: str, n: int, clients: int, rate: float, lat: list[float], cpu: float | None
) -> str:
    lat_ms = sorted(x * 1000 for x in lat)
    p95 = lat_ms[min(len(lat_ms) - 1, int(0.95 * len(lat_ms)))]
    cpu_cells = "n/a | n/a" if cpu is None else f"{cpu * 1000:.1f} | {(os.cpu_count() or 1) / cpu:.0f}"
    return (
        f"| {backend} | {mode} | {n} | {clients} | {rate:.1f} | {statistics.median(lat_ms):.1f} | {p95:.1f} "
        f"| {cpu_cells} |"
    )


ATTACKS = [
    ("read /etc/passwd", "print(open('/etc/passwd').read()[:30])"),
    ("list the repo", "import os; print(os.listdir({repo!r}))"),
    ("write /tmp", "open('/tmp/pwned', 'w').write('x')"),
    ("overwrite input image", "open(image_path, 'wb').write(b'x')"),
    ("delete input image", "import os; os.remove(image_path)"),
    ("TCP to 127.0.0.1", "import socket; socket.create_connection(('127.0.0.1', 22), timeout=1)"),
    ("subprocess", "import subprocess; subprocess.run(['id'])"),
    ("os.system", "import os; print('status', os.system('id'))"),
    ("fork bomb", "import os\nwhile True: os.fork()"),
    ("thread", "import threading; threading.Thread(target=print).start()"),
    ("memory bomb", "x = bytearray(8 * 2**30)"),
    ("infinite loop", "while True: pass"),
    (
        "ignore SIGTERM/SIGXCPU + loop",
        "import signal\nfor s in (15, 24): signal.signal(s, signal.SIG_IGN)\nwhile True: pass",
    ),
    ("huge output", "print('x' * 10**7)"),
    ("raise RLIMIT_AS", "import resource as r; r.setrlimit(r.RLIMIT_AS, (-1, -1))"),
    ("kill the worker", "import os; os.kill(os.getppid(), 9)"),
    ("kill everything", "import os; os.kill(-1, 9)"),
    ("read trainer env", "print(open('/proc/{host}/environ').read())"),
    (
        "__subclasses__ escape",
        "wc = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]\n"
        "print(wc.__init__.__globals__['popen']('cat /etc/passwd').read())",
    ),
    ("env snooping", "import os; print(sorted(os.environ))"),
    (
        "symlink to host file as image",
        "import os; os.symlink('/etc/passwd', 'x.png'); processed_path = 'x.png'",
    ),
    ("raw fork syscall (ctypes)", "import ctypes; print('ret', ctypes.CDLL(None).syscall(57))"),
    # the hardening pass (tests/sandbox/test_attacks_host.py, test_attacks_output.py)
    (
        "chmod a root-owned 0600 host file",
        "import os; os.chmod({secret!r}, 0o777); print(oct(os.stat({secret!r}).st_mode))",
    ),
    (
        "setuid copy of /bin/sh",
        "import os, shutil; shutil.copyfile('/bin/sh', 'sh'); os.chmod('sh', 0o4755); print(oct(os.stat('sh').st_mode))",
    ),
    (
        "datagram to a host unix socket",
        "import socket; a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM); print(a.sendto(b'x', {dgram!r}))",
    ),
    (
        "F_SETOWN to the trainer",
        "import fcntl, socket; a, b = socket.socketpair(); print(fcntl.fcntl(a, 8, {host}))",
    ),
    (
        "3000-level directory chain",
        "import os\nfor i in range(3000):\n    os.mkdir('d'); os.chdir('d')\nprint('deep')",
    ),
    ("file flood", "i = 0\nwhile True:\n    open(f'f{{i}}', 'w').close(); i += 1"),
    ("terminal escapes (clear, OSC 52, bidi)", "print('a\\x1b[2J\\x1b]52;c;eA==\\x07\\u202eb')"),
]


def attacks(backends: list[str], image: Path) -> None:
    repo = str(Path(__file__).resolve().parents[1])
    limits = dict(workers=1, cpu_s=2, wall_s=2, memory_mb=256, max_output_bytes=4096)
    boxes = {}
    for b in backends:  # each backend as configured by default, then with reused processes
        boxes[b] = make_sandbox(backend=b, **limits)
        boxes[f"{b} reused"] = make_sandbox(backend=b, calls_per_process=1000, **limits)
    print("| attack | " + " | ".join(boxes) + " |\n|---|" + "---|" * len(boxes))
    fd, secret = tempfile.mkstemp(prefix="vrl-bench-secret-")  # 0600, ours
    os.close(fd)
    dgram_dir = tempfile.mkdtemp(prefix="vrl-bench-dgram-")
    os.chmod(dgram_dir, 0o755)
    dgram = os.path.join(dgram_dir, "s")
    host_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    host_sock.bind(dgram)
    os.chmod(dgram, 0o777)  # any uid may send: only the sandbox's rules can stop it
    host_sock.setblocking(False)
    try:
        for name, code in ATTACKS:
            cells = []
            for sb in boxes.values():
                os.chmod(secret, 0o600)
                args = dict(repo=repo, host=os.getpid(), secret=secret, dgram=dgram)
                r = sb.execute(code.format(**args), [image])
                alarm = ""
                try:
                    alarm += f" **host socket got {host_sock.recv(16)!r}**"
                except BlockingIOError:
                    pass
                if stat.S_IMODE(os.stat(secret).st_mode) != 0o600:
                    alarm += " **host file mode changed**"
                after = sb.execute("print(1)", [])
                text = r.error or r.text.strip()[:60] or "(no output)"
                text = re.sub(r"/(sandbox|tmp/vrl-sandbox-[^/]+/[^/]+)/[0-9a-f]{16}", "W", text)
                if r.images:
                    text += f" + {len(r.images)} image(s)"
                cell = (f"`{r.violation}` " if r.violation else "") + text.replace("|", "/").replace(
                    "\n", " "
                )
                cells.append(cell[:110] + alarm + ("" if after.text == "1\n" else " **NEXT CALL FAILED**"))
            print(f"| {name} | " + " | ".join(cells) + " |")
    finally:
        for sb in boxes.values():
            sb.close()
        host_sock.close()
        os.unlink(dgram)
        os.rmdir(dgram_dir)
        os.unlink(secret)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="# %(message)s")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", nargs="+", default=["bwrap", "process"])
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--fresh-calls", type=int, default=20)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--image", choices=["diagram", "photo"], default="diagram")
    ap.add_argument("--program", choices=["crop", "noop"], default="crop", help="noop: print('ok')")
    ap.add_argument("--reuse", type=int, default=1000, help="calls_per_process of the reused row (1: no row)")
    ap.add_argument("--png-level", type=int, default=1, help="png_compress_level; -1 = zlib's default (6)")
    ap.add_argument("--attacks", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        image = make_image(Path(tmp) / "input.png", args.image)
        if args.attacks:
            attacks(args.backends, image)
            return
        program = PROGRAM if args.program == "crop" else NOOP
        png_level = None if args.png_level < 0 else args.png_level
        print(
            f"load before: {os.getloadavg()}, cpus: {os.cpu_count()}, {args.program} on a {args.image}, "
            f"png level {'zlib default' if png_level is None else png_level}"
        )
        print(f"program alone, in-process, 1 core: {in_process(program, image, png_level):.1f} calls/s")
        print(
            "| backend | mode | calls | clients | calls/s | p50 ms | p95 ms | CPU ms/call | cores / CPU per call |\n"
            "|---|---|---|---|---|---|---|---|---|"
        )
        for b in args.backends:
            rows = bench(b, program, image, args.calls, args.fresh_calls, args.clients, args.reuse, png_level)
            for row in rows:
                print(row, flush=True)
        print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
