"""Build the quietroom-relay wheel from the repository's own files (see pyproject.toml).

Only the modules the relay imports go in (tests/test_relay_dist.py checks that the installed
relay starts with nothing else), and of resources/ only the client page (web/).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parents[3]
RELAY_MODULES = {
    "__init__",
    "encoding",
    "errors",
    "forms",  # the sealed mailbox (mailbox.py) and what it carries
    "ice",
    "invite",
    "mailbox",
    "mailbox_box",
    "mailbox_redis",
    "protocol",
    "ratelimit",
    "relay",
    "relay_cli",
    "relay_config",
    "relay_credentials",
    "relay_metrics",
    "relay_net",
    "relay_redis",
    "relay_rooms",
    "relay_wire",
    "sealing",
}


class RelayOnly(build_py):
    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        found: list[tuple[str, str, str]] = super().find_package_modules(package, package_dir)
        if package == "telehealth":
            return [entry for entry in found if entry[1] in RELAY_MODULES]
        return found


setup(
    packages=["telehealth", "resources"],
    package_dir={"telehealth": str(ROOT / "telehealth"), "resources": str(ROOT / "resources")},
    package_data={
        "telehealth": ["py.typed"],
        "resources": sorted(
            str(path.relative_to(ROOT / "resources"))
            for path in (ROOT / "resources" / "web").rglob("*")
            if path.is_file()
        ),
    },
    include_package_data=False,
    cmdclass={"build_py": RelayOnly},
)
