from __future__ import annotations

from pathlib import Path

import pytest

from crypto.database import open_database, raw_key_literal
from crypto.errors import KeyFormatError, UnlockError

KEY = bytes(range(32))


@pytest.mark.parametrize(
    "bad", ["a passphrase", "x'" + "00" * 32 + "'", bytes(31), bytes(33), bytearray(32)]
)
def test_anything_but_32_raw_bytes_is_refused(bad: object, tmp_path: Path) -> None:
    with pytest.raises(KeyFormatError):
        raw_key_literal(bad)  # type: ignore[arg-type]
    with pytest.raises(KeyFormatError):
        open_database(tmp_path / "x.db", bad)  # type: ignore[arg-type]
    assert not (tmp_path / "x.db").exists()


def test_database_is_encrypted_and_configured(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    conn = open_database(path, KEY)
    conn.execute("CREATE TABLE t(x)")
    conn.execute("INSERT INTO t VALUES ('hello')")
    settings = {
        name: conn.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "synchronous", "temp_store", "secure_delete",
                     "cipher_memory_security", "cipher_version", "kdf_iter")
    }  # fmt: skip
    conn.close()
    assert settings["journal_mode"] == "wal"
    assert settings["synchronous"] == 2  # FULL
    assert settings["temp_store"] == 2  # MEMORY
    assert settings["secure_delete"] == 1
    assert str(settings["cipher_memory_security"]) in {"0", "OFF", "off"}  # see database.py
    assert str(settings["cipher_version"]).startswith("4.")
    data = path.read_bytes()
    assert not data.startswith(b"SQLite format 3")
    assert b"hello" not in data


def test_wrong_key_raises_unlock_error(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    conn = open_database(path, KEY)
    conn.execute("CREATE TABLE t(x)")
    conn.close()
    with pytest.raises(UnlockError):
        open_database(path, bytes(32))
    conn = open_database(path, KEY)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.close()


def test_memory_security_can_be_turned_on(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys; from pathlib import Path; from crypto.database import open_database; "
        "c = open_database(Path(sys.argv[1]), bytes(range(32))); "
        "print(c.execute('PRAGMA cipher_memory_security').fetchone()[0])"
    )
    env = {**__import__("os").environ, "QUIETROOM_SQLCIPHER_MEMORY_SECURITY": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "m.db")],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert out.stdout.strip() in {"1", "ON", "on"}
