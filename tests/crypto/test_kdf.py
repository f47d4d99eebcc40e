from __future__ import annotations

import pytest

from crypto import kdf
from crypto.errors import WeakParametersError
from crypto.kdf import KdfParams


def test_derive_is_deterministic_and_salted() -> None:
    salt_a, salt_b = kdf.new_salt(), kdf.new_salt()
    assert len(salt_a) == 16 and salt_a != salt_b
    key = kdf.derive_key(b"pw", salt_a, kdf.TEST_ONLY)
    assert len(key) == 32
    assert key == kdf.derive_key(b"pw", salt_a, kdf.TEST_ONLY)
    assert key != kdf.derive_key(b"pw", salt_b, kdf.TEST_ONLY)
    assert key != kdf.derive_key(b"pX", salt_a, kdf.TEST_ONLY)


def test_known_answer_argon2id() -> None:
    # Same inputs through the reference implementation's CLI (Debian package argon2):
    # echo -n password | argon2 somesaltsomesalt -id -t 2 -k 19456 -p 1 -l 32 -r
    params = KdfParams(time_cost=2, memory_kib=19 * 1024, parallelism=1)
    key = kdf.derive_key(b"password", b"somesaltsomesalt", params)
    assert key.hex() == "2b5dc4054886ec957ef59c73b661c54dd6fb274590b278f657c6d96aac8fa6d1"


def test_owasp_floor_enforced_outside_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kdf.TEST_PROFILE_ENV)
    with pytest.raises(WeakParametersError):
        kdf.TEST_ONLY.check()
    with pytest.raises(WeakParametersError):
        KdfParams(time_cost=1, memory_kib=64 * 1024, parallelism=1).check()
    kdf.OWASP_MINIMUM.check()
    kdf.RFC9106_LOW_MEMORY.check()


@pytest.mark.parametrize(
    "params",
    [
        KdfParams(time_cost=0, memory_kib=65536, parallelism=1),
        KdfParams(time_cost=2, memory_kib=65536, parallelism=0),
        KdfParams(time_cost=2, memory_kib=8 * 1024 * 1024, parallelism=1),
        KdfParams(time_cost=500, memory_kib=65536, parallelism=1),
    ],
)
def test_out_of_range_parameters_refused(params: KdfParams) -> None:
    with pytest.raises(WeakParametersError):
        params.check()


def test_calibration_scales_memory_then_passes() -> None:
    # A fake machine on which cost is proportional to memory x passes: 64 MiB x 2 takes 0.1 s.
    seen: list[KdfParams] = []
    elapsed = {"t": 0.0}

    def fake_derive(secret: bytes, salt: bytes, params: KdfParams) -> bytes:
        seen.append(params)
        elapsed["t"] += 0.1 * (params.memory_kib / 65536) * (params.time_cost / 2)
        return bytes(32)

    result = kdf.calibrate(0.75, cpu_count=8, clock=lambda: elapsed["t"], derive=fake_derive)
    assert result.parallelism == 4
    assert result.memory_kib >= 64 * 1024
    assert result.time_cost >= 2
    cost = 0.1 * (result.memory_kib / 65536) * (result.time_cost / 2)
    assert 0.5 <= cost <= 1.0
    assert result.profile == "calibrated"


def test_calibration_never_goes_below_minimum_on_a_slow_machine() -> None:
    clock = iter([0.0, 5.0])
    result = kdf.calibrate(
        0.75, cpu_count=1, clock=lambda: next(clock), derive=lambda s, t, p: bytes(32)
    )
    assert (result.memory_kib, result.time_cost, result.parallelism) == (64 * 1024, 2, 1)
