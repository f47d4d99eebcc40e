"""A network with a bad link in the middle, on this machine: three network namespaces and a
userspace impairment stage (this kernel has no ``netem``).

    [<tag>-c] c0 198.18.0.1 ── xc [<tag>-x] xt ── t0 198.18.0.2 [<tag>-t]
     client side              forwarder            therapist side

The middle namespace runs :func:`forward`: two ``AF_PACKET`` sockets bridge its two veth ends in
user space, and every frame passes through one :class:`Link` per direction: a cut, random loss,
a bottleneck rate with a bounded queue (tail drop, like a home router's buffer), then a delay
with jitter (order kept, as on one physical link). ``Topology`` builds it (names start with
``media``; 198.18.0.0/15 is the range set aside for benchmarks, RFC 2544), changes the
impairment over a Unix socket while traffic flows, and deletes everything on exit, on Ctrl+C
and on errors. Needs root (``ip netns``). Used by ``bench_network.py`` and its CI check.

Run the forwarder by hand: ``python benchmarks/impairment.py forward IFACE_A IFACE_B SOCKET``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import os
import random
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CLIENT_IP = "198.18.0.1"
THERAPIST_IP = "198.18.0.2"
ETH_P_ALL = 0x0003
MAX_FRAME = 65_536


@dataclass(frozen=True)
class Impairment:
    """One direction's impairment (the same is applied both ways unless said otherwise)."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0  # uniform +- around the delay
    loss: float = 0.0  # 0..1, independent per packet
    rate_kbps: float | None = None  # bottleneck; None = unlimited
    queue_ms: float = 1000.0  # the bottleneck's buffer, in milliseconds at its rate
    cut: bool = False

    @property
    def queue_bytes(self) -> float:
        if self.rate_kbps is None:
            return float("inf")
        return self.rate_kbps * 1000 / 8 * self.queue_ms / 1000


@dataclass
class LinkStats:
    forwarded: int = 0
    lost: int = 0  # random loss
    overflow: int = 0  # the bottleneck's queue was full
    cut: int = 0
    max_queue_ms: float = 0.0


@dataclass
class Link:
    """One direction: frames in, (release time, frame) out."""

    impairment: Impairment = field(default_factory=Impairment)
    stats: LinkStats = field(default_factory=LinkStats)
    rng: random.Random = field(default_factory=lambda: random.Random(secrets.randbits(32)))
    _busy_until: float = 0.0  # when the bottleneck finishes sending what it holds
    _last_release: float = 0.0

    def admit(self, size: int, now: float) -> float | None:
        """When this frame leaves the link, or None when it is dropped."""
        imp = self.impairment
        if imp.cut:
            self.stats.cut += 1
            return None
        if imp.loss and self.rng.random() < imp.loss:
            self.stats.lost += 1
            return None
        leave = now
        if imp.rate_kbps is not None:
            start = max(now, self._busy_until)
            queued_bytes = (start - now) * imp.rate_kbps * 1000 / 8
            if queued_bytes + size > imp.queue_bytes:
                self.stats.overflow += 1
                return None
            self._busy_until = start + size * 8 / (imp.rate_kbps * 1000)
            leave = self._busy_until
            self.stats.max_queue_ms = max(self.stats.max_queue_ms, (start - now) * 1000)
        if imp.delay_ms or imp.jitter_ms:
            jitter = self.rng.uniform(-imp.jitter_ms, imp.jitter_ms) if imp.jitter_ms else 0.0
            leave += max(0.0, imp.delay_ms + jitter) / 1000
        leave = max(leave, self._last_release)  # one link: no reordering
        self._last_release = leave
        self.stats.forwarded += 1
        return leave


def fix_checksums(frame: bytes) -> bytes:
    """Frames read off a veth carry the sender's checksum offload (not filled in): set UDP's to
    zero (allowed on IPv4: no checksum) and compute TCP's, so the far side accepts them."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    ihl = (frame[14] & 0x0F) * 4
    proto = frame[23]
    l4 = 14 + ihl
    total = struct.unpack_from("!H", frame, 16)[0]
    end = min(len(frame), 14 + total)
    data = bytearray(frame)
    if proto == 17 and end >= l4 + 8:
        data[l4 + 6 : l4 + 8] = b"\x00\x00"
    elif proto == 6 and end >= l4 + 20:
        data[l4 + 16 : l4 + 18] = b"\x00\x00"
        segment = bytes(data[l4:end])
        pseudo = bytes(data[26:34]) + struct.pack("!BBH", 0, 6, len(segment))
        data[l4 + 16 : l4 + 18] = struct.pack("!H", _checksum(pseudo + segment))
    return bytes(data)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


async def forward(iface_a: str, iface_b: str, control: str) -> None:
    """Bridge ``iface_a`` and ``iface_b`` through two :class:`Link` objects until killed."""
    loop = asyncio.get_running_loop()
    socks = {}
    for name in (iface_a, iface_b):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind((name, ETH_P_ALL))
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        socks[name] = sock
    links = {iface_a: Link(), iface_b: Link()}  # keyed by the interface the frame came in on
    other = {iface_a: iface_b, iface_b: iface_a}
    pending: list[tuple[float, int, str, bytes]] = []
    counter = 0
    wake = asyncio.Event()

    def readable(name: str) -> None:
        nonlocal counter
        sock = socks[name]
        while True:
            try:
                frame, address = sock.recvfrom(MAX_FRAME)
            except BlockingIOError:
                return
            if address[2] == socket.PACKET_OUTGOING:
                continue  # our own transmissions on this interface
            leave = links[name].admit(len(frame), time.monotonic())
            if leave is None:
                continue
            counter += 1
            heapq.heappush(pending, (leave, counter, other[name], frame))
            wake.set()

    for name in socks:
        loop.add_reader(socks[name].fileno(), readable, name)

    async def release() -> None:
        while True:
            now = time.monotonic()
            while pending and pending[0][0] <= now:
                _, _, out, frame = heapq.heappop(pending)
                with contextlib.suppress(OSError):
                    socks[out].send(fix_checksums(frame))
            wake.clear()
            timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while line := await reader.readline():
                request = json.loads(line)
                if request.get("set") is not None:
                    for name, key in ((iface_a, "a_to_b"), (iface_b, "b_to_a")):
                        links[name].impairment = Impairment(**request["set"][key])
                reply = {name: asdict(link.stats) for name, link in links.items()}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(serve, path=control)
    async with server:
        await release()


class Topology:
    """The three namespaces, the veths and the forwarder. A context manager; always cleans up."""

    def __init__(self, python: str = sys.executable) -> None:
        tag = f"media{os.getpid() % 10000:04d}{secrets.token_hex(1)}"
        self.client_ns, self.therapist_ns, self.middle_ns = f"{tag}-c", f"{tag}-t", f"{tag}-x"
        self._veth = (f"{tag}c", f"{tag}t")  # the ends in the middle namespace
        self._python = python
        self._dir = Path(tempfile.mkdtemp(prefix="media-net-"))
        self.control = str(self._dir / "control.sock")
        self._forwarder: subprocess.Popen[bytes] | None = None
        self.processes: list[subprocess.Popen[Any]] = []

    def __enter__(self) -> Topology:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ip(self, *args: str, ns: str | None = None) -> None:
        cmd = ["ip", *(["-n", ns] if ns else []), *args]
        subprocess.run(cmd, check=True, capture_output=True)

    def _build(self) -> None:
        for ns in (self.client_ns, self.therapist_ns, self.middle_ns):
            self._ip("netns", "add", ns)
        xc, xt = self._veth
        self._ip("link", "add", "c0", "netns", self.client_ns, "type", "veth", "peer", xc,
                 "netns", self.middle_ns)  # fmt: skip
        self._ip("link", "add", "t0", "netns", self.therapist_ns, "type", "veth", "peer", xt,
                 "netns", self.middle_ns)  # fmt: skip
        for ns, dev, addr in (
            (self.client_ns, "c0", CLIENT_IP),
            (self.therapist_ns, "t0", THERAPIST_IP),
        ):
            self.sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1")
            self._ip("addr", "add", f"{addr}/24", "dev", dev, ns=ns)
            # One frame per packet: a TCP segment larger than the MTU cannot be re-sent as is.
            self._ip("link", "set", dev, "gso_max_segs", "1", "gso_max_size", "1500", ns=ns)
            self._ip("link", "set", dev, "up", ns=ns)
            self._ip("link", "set", "lo", "up", ns=ns)
        self.sysctl(self.middle_ns, "net.ipv6.conf.all.disable_ipv6=1")
        for dev in (xc, xt):
            self._ip("link", "set", dev, "promisc", "on", "up", ns=self.middle_ns)
        self._ip("link", "set", "lo", "up", ns=self.middle_ns)
        self._forwarder = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.middle_ns,
                self._python,
                __file__,
                "forward",
                xc,
                xt,
                self.control,
            ],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not Path(self.control).exists():
            if self._forwarder.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the impairment stage did not start")
            time.sleep(0.05)

    def sysctl(self, ns: str, setting: str) -> None:
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", setting], check=True)

    def exec_args(self, ns: str, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *cmd]

    def set(
        self, client_to_therapist: Impairment, therapist_to_client: Impairment | None = None
    ) -> dict[str, Any]:
        """Apply an impairment (both directions, or each its own); returns the counters."""
        back = therapist_to_client or client_to_therapist
        both = {"a_to_b": asdict(client_to_therapist), "b_to_a": asdict(back)}
        return self._request({"set": both})

    def counters(self) -> dict[str, Any]:
        return self._request({})

    def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(self.control)
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        reply: dict[str, Any] = json.loads(data)
        return reply

    def close(self) -> None:
        for process in [*self.processes, self._forwarder]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [*self.processes, self._forwarder]:
            if process is not None:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        for ns in (self.client_ns, self.therapist_ns, self.middle_ns):
            # Anything still running inside was started by us (a browser's helpers): end it by
            # its id, then remove the namespace (its veths go with it).
            result = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in result.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        with contextlib.suppress(OSError):
            Path(self.control).unlink()
        with contextlib.suppress(OSError):
            self._dir.rmdir()


@contextlib.contextmanager
def topology() -> Iterator[Topology]:
    with Topology() as net:
        yield net


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "forward":
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        asyncio.run(forward(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        print(__doc__)
        sys.exit(2)
