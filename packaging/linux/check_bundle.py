"""Check a frozen bundle before it is packaged (run by build.sh with the build environment's
Python, where Quietroom is installed):

- every file of the ``resources`` package is in the bundle, byte for byte;
- every library an ELF file in the bundle links is either in the bundle or on this system (the
  system ones are what the .deb depends on: deb_depends.py);
- every symbolic link in the bundle points at a file inside the bundle (a dangling link, or one
  that leaves the bundle, would be packaged as is and break or point elsewhere once installed).
"""

from __future__ import annotations

import importlib.resources
import subprocess
import sys
from pathlib import Path


def resource_files() -> dict[str, bytes]:
    root = importlib.resources.files("resources")
    found: dict[str, bytes] = {}

    def walk(node, prefix: str) -> None:  # type: ignore[no-untyped-def]
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                if child.name != "__pycache__":
                    walk(child, name + "/")
            elif not child.name.endswith((".py", ".pyc")):
                found[name] = child.read_bytes()

    walk(root, "")
    return found


def bad_symlinks(bundle: Path) -> list[str]:
    """The symbolic links under ``bundle`` that dangle or resolve outside it."""
    root = bundle.resolve()
    problems = []
    for path in sorted(bundle.rglob("*")):
        if not path.is_symlink():
            continue
        name = f"{path.relative_to(bundle)} -> {path.readlink()}"
        target = path.resolve()
        if not target.exists():
            problems.append(f"dangling symbolic link: {name}")
        elif not target.is_relative_to(root):
            problems.append(f"symbolic link out of the bundle: {name}")
    return problems


def main() -> int:
    bundle = Path(sys.argv[1])
    internal = bundle / "_internal"
    problems: list[str] = []
    expected = resource_files()
    for name, data in expected.items():
        path = internal / "resources" / name
        if not path.is_file() or path.read_bytes() != data:
            problems.append(f"resource missing or different: resources/{name}")
    problems += bad_symlinks(bundle)
    lib_dirs = sorted({str(p.parent) for p in internal.rglob("*.so*")} | {str(internal)})
    env = {"LD_LIBRARY_PATH": ":".join(lib_dirs), "PATH": "/usr/bin:/bin"}
    elf = [p for p in bundle.rglob("*") if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"]
    for path in elf:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            if "=> not found" in line:
                problems.append(f"{path.relative_to(bundle)}: {line.strip()}")
    if problems:
        print("check_bundle: the bundle is incomplete:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    links = sum(1 for p in bundle.rglob("*") if p.is_symlink())
    print(
        f"check_bundle: {len(expected)} resource files, {len(elf)} ELF files all resolve,"
        f" {links} symbolic links all point inside the bundle"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
