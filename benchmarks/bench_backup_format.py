"""Benchmark: Quietroom's backup format against age, on the same bytes, in one run.

    .venv/bin/python benchmarks/bench_backup_format.py              # 1 GiB
    .venv/bin/python benchmarks/bench_backup_format.py --size 256M

Writes an incompressible input file of ``--size`` bytes into a temporary folder, then encrypts it
with our format (recovery-key slot only, so no Argon2id: an X25519 recipient like age's, written
with the public key and opened with the recovery secret) and with ``age -r <X25519 recipient>``,
both to /dev/null, then decrypts a file made by each to /dev/null. Each run is its own process,
timed by wall clock (process start-up included for both, best of ``--repeat``), with peak RSS from
``wait4``. Our encryption streams from the file in 64 KiB pieces; its peak RSS must not grow with
``--size``. Needs ``age`` and ``age-keygen`` on PATH (Debian: ``apt-get install age``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RECOVERY_SECRET = bytes(range(16))  # fixed: the benchmark measures speed, not secrecy
PASSPHRASE = b"benchmark passphrase"
TARGET_RATIO = 0.5


@dataclass(frozen=True)
class Run:
    label: str
    seconds: float
    peak_rss_kib: int


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def make_input(path: Path, size: int) -> None:
    """Incompressible bytes from an AES-CTR keystream, written 1 MiB at a time."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(bytes(32)), modes.CTR(bytes(16))).encryptor()
    block = bytes(1 << 20)
    with path.open("wb") as out:
        left = size
        while left:
            n = min(left, len(block))
            out.write(encryptor.update(block[:n]))
            left -= n


def timed(label: str, argv: list[str], stdout_path: Path | None = None) -> Run:
    with open(stdout_path or os.devnull, "wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=sink)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed with exit code {proc.returncode}: {argv}")
    return Run(label, seconds, usage.ru_maxrss)


def best(repeat: int, label: str, argv: list[str]) -> Run:
    runs = [timed(label, argv) for _ in range(max(1, repeat))]
    return Run(label, min(r.seconds for r in runs), max(r.peak_rss_kib for r in runs))


def child(mode: str, src: str, dst: str, passphrase: bool) -> None:
    """Runs in its own process so that its peak RSS is its own."""
    from crypto.backup import open_backup, recipient_public_key, write_backup
    from crypto.kdf import RFC9106_LOW_MEMORY

    with open(src, "rb") as fin, open(dst, "wb") as fout:
        if mode == "encrypt":
            write_backup(
                fin,
                fout,
                passphrase=PASSPHRASE if passphrase else None,
                recipient_public_key=recipient_public_key(RECOVERY_SECRET),
                kdf_params=RFC9106_LOW_MEMORY,
            )
        else:
            open_backup(fin, recovery_secret=RECOVERY_SECRET).copy_to(fout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="bytes to encrypt (suffix K, M, G); 1G")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for temporary files")
    parser.add_argument(
        "--passphrase", action="store_true", help="also add an Argon2id (RFC 9106, 64 MiB) slot"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "SRC", "DST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, src, dst = args.child
        child(mode, src, dst, passphrase=args.passphrase)
        return
    for tool in ("age", "age-keygen"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install age")
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory(prefix="qr-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        plain, ours_out, age_out = work / "input.bin", work / "ours.qrbackup", work / "out.age"
        identity = work / "age-key.txt"
        print(f"writing {size / 2**20:.0f} MiB of input to {work} ...", flush=True)
        make_input(plain, size)
        subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
        recipient = subprocess.run(
            ["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True
        ).stdout.strip()
        me = [sys.executable, str(Path(__file__).resolve())]
        extra = ["--passphrase"] if args.passphrase else []
        ours_enc = [*me, *extra, "--child", "encrypt", str(plain)]
        age_enc = ["age", "-r", recipient, "-o"]
        subprocess.run(["cat", str(plain)], check=True, stdout=subprocess.DEVNULL)  # warm cache
        # Encryption goes to /dev/null so both tools are timed on the format, not on the disk.
        runs = [
            best(args.repeat, "ours encrypt", [*ours_enc, os.devnull]),
            best(args.repeat, "age  encrypt", [*age_enc, os.devnull, str(plain)]),
        ]
        timed("prepare", [*ours_enc, str(ours_out)])
        timed("prepare", [*age_enc, str(age_out), str(plain)])
        runs += [
            best(
                args.repeat, "ours decrypt", [*me, "--child", "decrypt", str(ours_out), os.devnull]
            ),
            best(args.repeat, "age  decrypt", ["age", "-d", "-i", str(identity), str(age_out)]),
        ]
        sizes = {"ours": ours_out.stat().st_size, "age": age_out.stat().st_size}
    mib = size / 2**20
    print(
        f"\n{mib:.0f} MiB, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"best of {args.repeat}"
    )
    print(f"{'run':<14}{'seconds':>9}{'MiB/s':>10}{'peak RSS MiB':>14}")
    for run in runs:
        print(
            f"{run.label:<14}{run.seconds:>9.2f}{mib / run.seconds:>10.0f}"
            f"{run.peak_rss_kib / 1024:>14.1f}"
        )
    enc = runs[1].seconds / runs[0].seconds
    dec = runs[3].seconds / runs[2].seconds
    print(
        f"\nthroughput ours/age: encrypt {enc:.2f}x, decrypt {dec:.2f}x "
        f"(target >= {TARGET_RATIO}x): {'OK' if min(enc, dec) >= TARGET_RATIO else 'BELOW'}"
    )
    print(
        f"output size: ours {sizes['ours']} B, age {sizes['age']} B "
        f"(overhead {sizes['ours'] - size} B vs {sizes['age'] - size} B)"
    )
    print(f"peak RSS of our encryption: {runs[0].peak_rss_kib / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
