"""Print the Debian ``Depends:`` of a frozen bundle: the shared libraries its ELF files link that
the bundle does not carry itself, mapped to the Debian packages that provide them on the build
machine (``dpkg -S``). PyInstaller bundles almost every library; what it leaves to the system is
the C library and the graphics stack (libGL/libEGL, libxcb), which must match the machine's
drivers. Run with the bundle folder as the only argument.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# Never listed: provided by every Debian system (Essential: yes / the dynamic loader).
ALWAYS_THERE = {"libc6", "libgcc-s1", "libstdc++6"}


def elf_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def needed(path: Path) -> list[str]:
    out = subprocess.run(
        ["readelf", "-d", str(path)], capture_output=True, text=True, check=False
    ).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def system_libraries() -> dict[str, str]:
    """soname -> path of the 64-bit x86 libraries the dynamic loader knows (``ldconfig -p``)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    found: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        name, _, rest = line.strip().partition(" ")
        if "x86-64" in rest:
            found.setdefault(name, rest.rsplit("=> ", 1)[-1])
    return found


def package_of(path: str) -> str:
    real = str(Path(path).resolve())
    for candidate in (path, real, real.replace("/usr/lib/", "/lib/", 1)):
        proc = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if proc.returncode == 0:
            return proc.stdout.split(":", 1)[0]
    raise SystemExit(f"deb_depends: no Debian package provides {path}")


def glibc_minimum(files: list[Path]) -> str:
    best = (2, 17)
    for path in files:
        out = subprocess.run(
            ["readelf", "-V", str(path)], capture_output=True, text=True, check=False
        ).stdout
        for major, minor in re.findall(r"Name: GLIBC_(\d+)\.(\d+)", out):
            best = max(best, (int(major), int(minor)))
    return f"{best[0]}.{best[1]}"


def main() -> int:
    root = Path(sys.argv[1])
    files = elf_files(root)
    bundled = {p.name for p in root.rglob("*")}
    packages: set[str] = set()
    missing: list[str] = []
    system = system_libraries()
    for soname in sorted({n for f in files for n in needed(f)} - bundled):
        path = system.get(soname)
        if path is None:
            missing.append(soname)
            continue
        packages.add(package_of(path))
    if missing:
        raise SystemExit(f"deb_depends: not bundled and not on this machine: {missing}")
    depends = [f"libc6 (>= {glibc_minimum(files)})"]
    depends += sorted(packages - ALWAYS_THERE)
    print(", ".join(depends))
    return 0


if __name__ == "__main__":
    sys.exit(main())
