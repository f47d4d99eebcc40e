"""What PyInstaller must collect beyond the imports it finds by itself, computed from
pyproject.toml so that a feature adding a dependency or a data folder needs no edit here.

Used by ``quietroom.spec`` (the build) and by ``tests/packaging`` (CI checks that every name here
resolves). Runs inside the build virtual environment, where Quietroom and its dependencies are
installed; it imports PyInstaller's hook utilities only in the functions that need them.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Our own top-level packages: every module is collected (some are imported lazily, e.g. the call
# stack on the first video session, and a lazily imported module is still a module we ship).
OWN_PACKAGES = ("desktop", "crypto", "telehealth", "resources")

# Imported by no code path of the app, but pulled in by a dependency's optional import; leaving
# them out keeps the bundle small. Qt modules are not listed: PyInstaller's PySide6 hooks collect
# only the Qt modules (and their plugins) that the code imports.
EXCLUDES = (
    "tkinter",
    "_tkinter",
    "unittest",
    "pydoc_data",
    "IPython",
    "matplotlib",
    "numpy.f2py",
    "pytest",
    "_pytest",
    "hypothesis",
    "mypy",
    "playwright",
)


# Files a package ships for developers (type stubs, C sources and headers), not for running.
SOURCE_ONLY = ["**/*.pyi", "**/*.pxd", "**/*.pyx", "**/*.h", "**/*.c", "**/py.typed"]


@dataclass(frozen=True)
class Collection:
    hiddenimports: list[str] = field(default_factory=list)
    datas: list[tuple[str, str]] = field(default_factory=list)
    binaries: list[tuple[str, str]] = field(default_factory=list)


def requirement_name(requirement: str) -> str:
    """``"sqlcipher3>=0.5.4 ; sys_platform != 'win32'"`` -> ``"sqlcipher3"``."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"cannot read a distribution name from {requirement!r}")
    return match.group(1)


def runtime_distributions(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The distributions the app needs at run time: ``[project] dependencies``."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    names = [requirement_name(r) for r in project.get("dependencies", [])]
    return sorted(set(names))


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def top_level_modules(distribution: str) -> list[str]:
    """The importable top-level names a distribution installs (``pyside6`` -> ``PySide6``...)."""
    wanted = _normalized(distribution)
    return sorted(
        module
        for module, dists in metadata.packages_distributions().items()
        if module.isidentifier()
        and not module.startswith("_")
        and any(_normalized(d) == wanted for d in dists)
    )


def collection(
    pyproject: Path = REPO / "pyproject.toml",
    own_packages: tuple[str, ...] = OWN_PACKAGES,
) -> Collection:
    """What to collect for the distribution described by ``pyproject`` (the app's by default;
    the relay's spec passes packaging/deploy/python/pyproject.toml and its two packages)."""
    from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

    hidden: list[str] = []
    datas: list[tuple[str, str]] = []
    for package in own_packages:
        hidden += collect_submodules(package)
    # Every file inside our packages that is not Python: templates, the client's web page, icons
    # and whatever a later feature adds under resources/ (or beside a module).
    for package in own_packages:
        datas += collect_data_files(package)
    # importlib.metadata must answer for us (``quietroom --version``) and for our dependencies
    # (some read their own version at import time).
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    datas += copy_metadata(project["name"])
    for dist in runtime_distributions(pyproject):
        datas += copy_metadata(dist, recursive=True)
        for module in top_level_modules(dist):
            if module.startswith("PySide6") or module == "shiboken6":
                continue  # PySide6's hooks collect Qt per imported module; all of Qt is 600 MB
            datas += collect_data_files(module, excludes=SOURCE_ONLY)
    return Collection(hiddenimports=sorted(set(hidden)), datas=sorted(set(datas)))


def project_version(pyproject: Path = REPO / "pyproject.toml") -> str:
    version: str = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    return version


# Qt plugins the app does not use, and that would bring large libraries with them:
# - platformthemes/gtk3: GTK 3 with cairo, pango, atk... (~20 MB); the xdg-desktop-portal theme
#   still gives the desktop's dark/light setting and file dialogs through the portal;
# - the virtual keyboard input context: Qt Quick and QML (~17 MB) for an on-screen keyboard;
# - the PDF image-format plugin (QtPdf, 4 MB): we write PDFs, we do not display them as images;
# - eglfs/linuxfb/vnc/vkkhrdisplay platforms and their device integrations: for kiosks and
#   embedded boards without a window system.
DROPPED_QT_PLUGINS = (
    "platformthemes/*gtk3*",
    "platforminputcontexts/*virtualkeyboard*",
    "imageformats/*pdf*",
    "platforms/*eglfs*",
    "platforms/*linuxfb*",
    "platforms/*vnc*",
    "platforms/*vkkhrdisplay*",
    "platforms/*minimalegl*",
    "egldeviceintegrations/*",
    "generic/*",
)


def is_dropped_plugin(dest: str) -> bool:
    from fnmatch import fnmatch

    path = dest.replace("\\", "/")
    marker = "/plugins/"
    if marker not in path:
        return False
    inside = path.split(marker, 1)[1]
    return any(fnmatch(inside, pattern) for pattern in DROPPED_QT_PLUGINS)


Entry = tuple[str, str, str]


def reproducible_datas(datas: list[Entry]) -> list[Entry]:
    """Leave out the metadata files that differ from one build environment to the next and that
    nothing reads at run time (found by packaging/check-reproducible.sh):

    - ``*.dist-info/RECORD``: it lists the hashes of the console scripts pip wrote into the
      environment's ``bin/``, whose first line names that environment's path;
    - ``__pycache__`` folders inside ``*.dist-info`` (PyAV ships a licence as ``AUTHORS.py``;
      pip compiles it at install time, with the install time in the header);
    - ``*.dist-info/direct_url.json`` (PEP 610): pip writes it for what it installs from a folder
      (Quietroom, the relay), with that folder's path: two checkouts in two folders gave two
      different relay .debs, and the path would tell anyone where the release was built.

    ``importlib.metadata`` needs only METADATA (and entry_points.txt, top_level.txt).
    """

    def unstable(dest: str) -> bool:
        parts = Path(dest.replace("\\", "/")).parts
        in_metadata = any(part.endswith(".dist-info") for part in parts)
        unstable_file = parts[-1] in ("RECORD", "direct_url.json")
        return in_metadata and (unstable_file or "__pycache__" in parts)

    return [entry for entry in datas if not unstable(entry[0])]


def prune(
    binaries: list[Entry], datas: list[Entry]
) -> tuple[list[Entry], list[Entry], list[Entry]]:
    """What the spec calls on Analysis' ``binaries`` and ``datas``: the dropped Qt plugins, the
    libraries only they need (prune_binaries) and PyInstaller's links to those libraries
    (drop_links_to) are left out. Returns (binaries, datas, removed)."""
    kept, removed = prune_binaries(binaries)
    datas, links = drop_links_to(datas, removed)
    return kept, datas, removed + links


def prune_binaries(binaries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """Remove the dropped Qt plugins, and the libraries that only they needed.

    A library is removed only when it is linked (directly or not) by a dropped plugin and by
    nothing that stays, so a library another part of the app links is kept. Returns (kept,
    removed). PyInstaller's symbolic links to the removed libraries are in ``a.datas``: the spec
    removes them with drop_links_to. ``packaging/build.sh`` then checks that every kept library
    still resolves and that no link dangles (check_bundle.py).
    """
    from PyInstaller.depend.bindepend import get_imports

    by_name: dict[str, Entry] = {}
    for entry in binaries:
        by_name.setdefault(Path(entry[0]).name, entry)
        by_name.setdefault(Path(entry[1]).name, entry)

    def links(entry: Entry) -> list[Entry]:
        found = []
        for name, _path in get_imports(entry[1]):
            hit = by_name.get(Path(name).name)
            if hit is not None:
                found.append(hit)
        return found

    def closure(roots: list[Entry]) -> set[Entry]:
        seen: set[Entry] = set()
        todo = list(roots)
        while todo:
            entry = todo.pop()
            if entry in seen:
                continue
            seen.add(entry)
            todo.extend(links(entry))
        return seen

    dropped = [e for e in binaries if is_dropped_plugin(e[0])]
    candidates = closure(dropped)
    roots = [e for e in binaries if e not in candidates]
    needed = closure(roots)
    removed = sorted(candidates - needed)
    kept = [e for e in binaries if e not in set(removed)]
    return kept, removed


def symlink_target(entry: Entry) -> str:
    """Where a SYMLINK entry points, as a path inside the bundle (its target is relative to the
    link's own folder, as ``os.symlink`` in PyInstaller's COLLECT makes it)."""
    dest, target, _typecode = entry
    folder = posixpath.dirname(dest.replace("\\", "/"))
    return posixpath.normpath(posixpath.join(folder, target.replace("\\", "/")))


def drop_links_to(entries: list[Entry], removed: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """Leave out of ``entries`` the SYMLINK entries that point at a ``removed`` entry (or at a
    link that does). Returns (kept, dropped links).

    For every library it collects into a sub-folder (Qt's go to ``PySide6/Qt/lib/``), PyInstaller
    adds a symbolic link to it in the bundle's top folder (for ``LD_LIBRARY_PATH``), as a SYMLINK
    entry of ``a.datas`` (Analysis sorts every entry that is not BINARY or EXTENSION there). When
    prune_binaries removes such a library (QtPdf, QtVirtualKeyboard, the EGLFS integrations), its
    link would be left dangling in the bundle (check_bundle.py fails the build on any).
    """
    gone = {posixpath.normpath(e[0].replace("\\", "/")) for e in removed}
    kept = list(entries)
    dropped: list[Entry] = []
    while True:
        dangling = [e for e in kept if e[2] == "SYMLINK" and symlink_target(e) in gone]
        if not dangling:
            return kept, dropped
        dropped += dangling
        gone |= {posixpath.normpath(e[0].replace("\\", "/")) for e in dangling}
        kept = [e for e in kept if e not in dangling]
