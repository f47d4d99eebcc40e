"""The build definitions stay valid without running the whole build (which takes minutes): the
PyInstaller spec compiles and what it collects resolves, the desktop entry validates, the macOS
plists and the Windows installer script are well-formed, the workflow parses, and the shell
scripts pass shellcheck. ``bash packaging/build.sh && bash packaging/test-install.sh`` is the
whole check (docs/install.md).
"""

from __future__ import annotations

import configparser
import importlib.util
import plistlib
import re
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


def _collect() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "quietroom_collect", PACKAGING / "pyinstaller" / "collect.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


collect = _collect()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # .ci/test installs it (packaging/system-deps.sh)
        pytest.fail(f"{name} is not installed: bash packaging/system-deps.sh {name}")
    return path


def test_the_spec_compiles_and_uses_the_shared_collection() -> None:
    source = (PACKAGING / "pyinstaller" / "quietroom.spec").read_text(encoding="utf-8")
    compile(source, "quietroom.spec", "exec")
    for name in (
        "collect.collection()",
        "collect.prune(list(a.binaries), list(a.datas))",
        "collect.EXCLUDES",
    ):
        assert name in source


def test_every_runtime_dependency_is_installed_and_importable() -> None:
    distributions = collect.runtime_distributions()
    assert "pyside6" in [d.lower() for d in distributions]
    for dist in distributions:
        modules = collect.top_level_modules(dist)
        assert modules, f"{dist}: no importable top-level module found"


def test_requirement_names_are_read_from_any_pep508_form() -> None:
    assert collect.requirement_name("sqlcipher3>=0.5.4 ; sys_platform != 'win32'") == "sqlcipher3"
    assert collect.requirement_name("fhir.resources[xml]~=7.1") == "fhir.resources"
    with pytest.raises(ValueError):
        collect.requirement_name(">=1")


def test_the_collection_resolves() -> None:
    found = collect.collection()
    for module in found.hiddenimports:
        assert importlib.util.find_spec(module) is not None, module
    for package in collect.OWN_PACKAGES:
        assert package in found.hiddenimports
    for source, _dest in found.datas:
        assert Path(source).exists(), source
    dests = {Path(dest).as_posix() for _source, dest in found.datas}
    # The resources package's files (templates, the client page, icons) are all collected, and so
    # is our own metadata (quietroom --version in the bundle reads it).
    resources = ROOT / "resources"
    for path in resources.rglob("*"):
        skipped = path.suffix in (".py", ".pyc") or "__pycache__" in path.parts
        if path.is_file() and not skipped:
            folder = path.parent.relative_to(ROOT).as_posix()
            assert folder in dests, f"{path.relative_to(ROOT)} is not collected"
    # Installed, our metadata is quietroom-<version>.dist-info; in a checkout where `pip install .`
    # ran, setuptools also leaves quietroom.egg-info at the top, and importlib.metadata finds
    # whichever comes first on sys.path (which tests run before changes that). Either is ours.
    assert any(re.fullmatch(r"quietroom-[^/]+\.dist-info|quietroom\.egg-info", d) for d in dests)


def test_every_dropped_qt_plugin_pattern_still_matches_a_plugin() -> None:
    """A pattern that matches nothing (a plugin renamed by a Qt update) would silently keep a
    large plugin in the bundle."""
    import PySide6

    plugins = Path(PySide6.__file__).parent / "Qt" / "plugins"
    if not plugins.is_dir():  # Windows and macOS wheels lay Qt out differently
        pytest.skip("PySide6's plugin folder is laid out differently on this platform")
    names = [p.relative_to(plugins).as_posix() for p in plugins.rglob("*") if p.is_file()]
    for pattern in collect.DROPPED_QT_PLUGINS:
        assert any(fnmatch(n, pattern) for n in names), pattern
    assert collect.is_dropped_plugin("_internal/PySide6/Qt/plugins/platformthemes/libqgtk3.so")
    assert not collect.is_dropped_plugin("_internal/PySide6/Qt/plugins/platforms/libqxcb.so")
    assert not collect.is_dropped_plugin("_internal/PySide6/Qt/lib/libQt6Gui.so.6")


def test_metadata_that_varies_between_build_environments_is_left_out() -> None:
    datas = [
        ("idna-3.21.dist-info/RECORD", "/venv/x/RECORD", "DATA"),
        ("idna-3.21.dist-info/METADATA", "/venv/x/METADATA", "DATA"),
        ("av-18.1.0.dist-info/licenses/__pycache__/AUTHORS.cpython-311.pyc", "/v/a.pyc", "DATA"),
        ("resources/templates/soap.toml", "/v/soap.toml", "DATA"),
        ("somepkg/RECORD", "/v/RECORD", "DATA"),
        ("quietroom_relay-0.1.0.dist-info/direct_url.json", "/v/direct_url.json", "DATA"),
    ]
    kept = [dest for dest, _src, _type in collect.reproducible_datas(datas)]
    assert kept == [
        "idna-3.21.dist-info/METADATA",
        "resources/templates/soap.toml",
        "somepkg/RECORD",
    ]


def test_the_desktop_entry_validates() -> None:
    entry = PACKAGING / "linux" / "quietroom.desktop"
    result = subprocess.run(
        [_tool("desktop-file-validate"), str(entry)], capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(entry, encoding="utf-8")
    assert parser["Desktop Entry"]["Exec"] == "quietroom"
    assert parser["Desktop Entry"]["Icon"] == "quietroom"
    assert (ROOT / "resources" / "icons" / "quietroom.svg").is_file()


def test_the_macos_plists_are_well_formed_and_ask_for_camera_and_microphone() -> None:
    info = plistlib.loads((PACKAGING / "macos" / "Info.plist").read_bytes())
    for key in ("NSCameraUsageDescription", "NSMicrophoneUsageDescription"):
        assert len(info[key]) > 20, key
    assert info["CFBundleExecutable"] == "Quietroom"
    entitlements = plistlib.loads((PACKAGING / "macos" / "entitlements.plist").read_bytes())
    assert entitlements["com.apple.security.device.camera"] is True
    assert entitlements["com.apple.security.device.audio-input"] is True
    assert "com.apple.security.cs.disable-library-validation" not in entitlements


def test_the_inno_setup_script_is_well_formed() -> None:
    text = (PACKAGING / "windows" / "quietroom.iss").read_text(encoding="utf-8")
    sections: dict[str, list[str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(";") or line.startswith("#"):
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            current = header.group(1)
            assert current not in sections, f"section [{current}] twice"
            sections[current] = []
            continue
        assert current is not None, f"text before the first section: {line}"
        sections[current].append(line)
    assert {"Setup", "Files", "Icons", "Code"} <= sections.keys()
    setup = dict(line.split("=", 1) for line in sections["Setup"])
    for key in ("AppId", "AppName", "AppVersion", "DefaultDirName", "PrivilegesRequired"):
        assert key in setup, key
    assert setup["PrivilegesRequired"] == "lowest"  # installs without administrator rights
    # Every entry line is "Name: value; Name: value" with quoted strings closed.
    for section in ("Files", "Icons", "Tasks", "Run", "Registry"):
        for line in sections.get(section, []):
            assert line.count('"') % 2 == 0, line
            for part in line.split("; "):
                assert re.match(r"\w+: ", part), f"[{section}] {part}"
    assert any("quietroomw.exe" in line for line in sections["Icons"])
    code = "\n".join(sections["Code"])
    assert code.count("begin") == code.count("end;") + code.count("end.")


def test_the_installer_workflow_parses_and_names_existing_files() -> None:
    workflow = yaml.safe_load((ROOT / "packaging" / "ci" / "installers.yml").read_text())
    assert set(workflow["jobs"]) == {"linux", "windows", "macos"}
    text = (ROOT / "packaging" / "ci" / "installers.yml").read_text()
    for path in re.findall(r"packaging/[\w./-]+\.(?:sh|spec|iss|txt|plist)", text):
        assert (ROOT / path).is_file(), path
    for path in re.findall(r"packaging\\[\w\\.-]+\.iss", text):
        assert (ROOT / path.replace("\\", "/")).is_file(), path


def test_the_packaging_scripts_pass_shellcheck() -> None:
    scripts = sorted(PACKAGING.rglob("*.sh"))
    assert len(scripts) >= 5
    result = subprocess.run(
        [_tool("shellcheck"), "--severity=warning", *map(str, scripts)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_the_relay_spec_compiles_and_its_inputs_exist() -> None:
    source = (PACKAGING / "relay" / "relay.spec").read_text(encoding="utf-8")
    compile(source, "relay.spec", "exec")
    relay_project = ROOT / "packaging" / "deploy" / "python" / "pyproject.toml"
    names = collect.runtime_distributions(relay_project)
    assert "aiohttp" in names and not {"pyside6", "aiortc", "sqlcipher3"} & set(names)
    # make-relay-deb.sh rewrites this exact ExecStart to /usr/bin/quietroom-relay.
    unit = (ROOT / "packaging" / "deploy" / "systemd" / "quietroom-relay@.service").read_text(
        encoding="utf-8"
    )
    assert re.search(r"^ExecStart=/opt/quietroom-relay/bin/quietroom-relay ", unit, re.M)
    for example in ("caddy/Caddyfile.in", "coturn/turnserver.conf.in", "relay.toml.in"):
        assert (ROOT / "packaging" / "deploy" / example).is_file(), example


def _check_bundle() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "quietroom_check_bundle", PACKAGING / "linux" / "check_bundle.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_links_to_pruned_libraries_are_pruned_with_them() -> None:
    # PyInstaller links every library it puts in a sub-folder from the top folder; the Qt
    # libraries only a dropped plugin needs are removed, and their links must go too.
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    plugin = qt / "plugins" / "imageformats" / "libqpdf.so"
    if not plugin.is_file():
        pytest.skip("PySide6's plugin folder is laid out differently on this platform")
    pdf = ("PySide6/Qt/lib/libQt6Pdf.so.6", str(qt / "lib" / "libQt6Pdf.so.6"), "BINARY")
    core = ("PySide6/Qt/lib/libQt6Core.so.6", str(qt / "lib" / "libQt6Core.so.6"), "BINARY")
    xcb = (
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        str(qt / "plugins/platforms/libqxcb.so"),
        "BINARY",
    )
    binaries = [
        ("PySide6/Qt/plugins/imageformats/libqpdf.so", str(plugin), "BINARY"),
        xcb,  # kept, and links QtCore: so QtCore stays
        pdf,
        core,
    ]
    # After its analysis, PyInstaller puts every entry that is not BINARY or EXTENSION in datas.
    datas = [
        ("libQt6Pdf.so.6", "PySide6/Qt/lib/libQt6Pdf.so.6", "SYMLINK"),
        ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
        ("PySide6/libQt6Pdf.so", "../libQt6Pdf.so.6", "SYMLINK"),  # a link to the link
        ("resources/web/index.html", "/src/index.html", "DATA"),
    ]
    kept, kept_datas, removed = collect.prune(binaries, datas)
    assert kept == [xcb, core]
    assert [e[0] for e in kept_datas] == ["libQt6Core.so.6", "resources/web/index.html"]
    assert pdf in removed and core not in removed
    assert {e[0] for e in removed if e[2] == "SYMLINK"} == {
        "libQt6Pdf.so.6",
        "PySide6/libQt6Pdf.so",
    }


def test_the_bundle_check_fails_on_a_dangling_or_escaping_link(tmp_path: Path) -> None:
    bundle = tmp_path / "quietroom"
    (bundle / "_internal" / "lib").mkdir(parents=True)
    (bundle / "_internal" / "lib" / "libkept.so.1").write_bytes(b"")
    (bundle / "_internal" / "libkept.so.1").symlink_to("lib/libkept.so.1")
    check = _check_bundle()
    assert check.bad_symlinks(bundle) == []
    (bundle / "_internal" / "libgone.so.6").symlink_to("lib/libgone.so.6")
    (bundle / "_internal" / "hosts").symlink_to("/etc/hosts")
    assert check.bad_symlinks(bundle) == [
        "symbolic link out of the bundle: _internal/hosts -> /etc/hosts",
        "dangling symbolic link: _internal/libgone.so.6 -> lib/libgone.so.6",
    ]


def test_every_repository_path_the_build_scripts_name_exists() -> None:
    # A move of a folder the scripts read (deploy/ -> packaging/deploy/) breaks only the full
    # build, which CI does not run: every literal "$REPO/..." or "$HERE/..." path must exist.
    named = 0
    for script in sorted(PACKAGING.rglob("*.sh")):
        if "tarball" in script.parts:
            continue  # shipped in the tarball: they run in the person's install folder
        text = script.read_text(encoding="utf-8")
        for match in re.finditer(r"\$\{?(REPO|HERE)\}?/([A-Za-z0-9_.@/-]+)", text):
            base, path = match.groups()
            if path.split("/")[0] in ("build", "dist"):
                continue  # made by the build
            if text[: match.start()].endswith(":-"):
                continue  # a default for a variable (the release key's, which only a release has)
            root = ROOT if base == "REPO" else script.parent
            if base == "HERE" and "HERE=" not in text:
                continue
            named += 1
            assert (root / path).exists(), f"{script.relative_to(ROOT)} names ${base}/{path}"
    assert named > 10
