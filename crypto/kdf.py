"""Argon2id key derivation: named parameter profiles, a floor, and calibration to a time target.

Profiles follow RFC 9106 and OWASP's password storage cheat sheet. The default for a new vault is
calibrated on the user's machine (KeePassXC does the same) to about 0.5-1 s with at least 64 MiB.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw

from crypto.errors import WeakParametersError

SALT_BYTES = 16  # 128-bit salt, RFC 9106 section 3.1
KEY_BYTES = 32
ARGON2_VERSION = 0x13

# OWASP floor for Argon2id: m=19 MiB, t=2, p=1. Nothing outside the test suite goes below it.
FLOOR_MEMORY_KIB = 19 * 1024
FLOOR_TIME_COST = 2
# Upper bounds protect an unlock from a header (or backup key slot) crafted to exhaust memory or
# time. They are what this app would ever write: calibration's maximum (1 GiB, at most 10 passes,
# at most 4 lanes) and the named profiles. Anything above is refused before Argon2id runs.
MAX_MEMORY_KIB = 1024 * 1024
MAX_TIME_COST = 10
MAX_PARALLELISM = 4

# Calibration: target the middle of 0.5-1 s; never use less than 64 MiB, never more than 1 GiB.
CALIBRATION_TARGET_S = 0.75
CALIBRATION_MIN_MEMORY_KIB = 64 * 1024
CALIBRATION_MAX_MEMORY_KIB = 1024 * 1024

TEST_PROFILE_ENV = "QUIETROOM_ALLOW_TEST_KDF"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters. ``profile`` is a label kept for people reading the header."""

    time_cost: int
    memory_kib: int
    parallelism: int
    profile: str = "custom"

    @property
    def is_test_only(self) -> bool:
        return self.memory_kib < FLOOR_MEMORY_KIB or self.time_cost < FLOOR_TIME_COST

    def check(self) -> None:
        """Refuse parameters outside the supported range, and test-only ones outside tests."""
        if not (1 <= self.parallelism <= MAX_PARALLELISM):
            raise WeakParametersError(f"parallelism {self.parallelism} out of range")
        if not (1 <= self.time_cost <= MAX_TIME_COST):
            raise WeakParametersError(f"time cost {self.time_cost} out of range")
        if not (8 * self.parallelism <= self.memory_kib <= MAX_MEMORY_KIB):
            raise WeakParametersError(f"memory {self.memory_kib} KiB out of range")
        if self.is_test_only and not test_profile_allowed():
            raise WeakParametersError(
                "these key-derivation parameters are below the OWASP minimum and are allowed "
                "only in the test suite"
            )


# RFC 9106 second recommended option (for memory-constrained environments): 64 MiB, t=3, p=4.
RFC9106_LOW_MEMORY = KdfParams(time_cost=3, memory_kib=64 * 1024, parallelism=4, profile="rfc9106")
# OWASP minimum: the floor itself.
OWASP_MINIMUM = KdfParams(time_cost=2, memory_kib=19 * 1024, parallelism=1, profile="owasp-min")
# Cheap parameters for the test suite only; refused unless the test environment variable is set.
TEST_ONLY = KdfParams(time_cost=1, memory_kib=64, parallelism=1, profile="test")

PROFILES: dict[str, KdfParams] = {
    p.profile: p for p in (RFC9106_LOW_MEMORY, OWASP_MINIMUM, TEST_ONLY)
}


def test_profile_allowed() -> bool:
    return os.environ.get(TEST_PROFILE_ENV) == "1"


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def derive_key(secret: bytes, salt: bytes, params: KdfParams) -> bytes:
    """Derive a 256-bit key from ``secret`` with Argon2id (argon2-cffi's raw low-level hash)."""
    params.check()
    if len(salt) != SALT_BYTES:
        raise WeakParametersError("salt must be 16 bytes")
    return hash_secret_raw(
        secret=secret,
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=KEY_BYTES,
        type=Type.ID,
        version=ARGON2_VERSION,
    )


def calibrate(
    target_s: float = CALIBRATION_TARGET_S,
    *,
    cpu_count: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
    derive: Callable[[bytes, bytes, KdfParams], bytes] = derive_key,
) -> KdfParams:
    """Pick parameters that take about ``target_s`` on this machine.

    Memory is raised first (memory hardness is what slows GPU attackers), then passes. The result
    is never below 64 MiB, t=2, and parallelism is min(4, cores).
    """
    lanes = max(1, min(4, cpu_count if cpu_count is not None else (os.cpu_count() or 1)))
    probe = KdfParams(
        time_cost=FLOOR_TIME_COST,
        memory_kib=CALIBRATION_MIN_MEMORY_KIB,
        parallelism=lanes,
        profile="calibrated",
    )
    elapsed = _measure(probe, clock, derive)
    if elapsed >= target_s:
        return probe  # a slow machine: keep the 64 MiB, t=2 minimum rather than go below it
    scale = target_s / max(elapsed, 1e-6)
    memory = min(CALIBRATION_MAX_MEMORY_KIB, int(probe.memory_kib * scale) // 1024 * 1024)
    memory = max(memory, CALIBRATION_MIN_MEMORY_KIB)
    remaining = scale * probe.memory_kib / memory
    passes = max(FLOOR_TIME_COST, min(MAX_TIME_COST, round(probe.time_cost * remaining)))
    return KdfParams(time_cost=passes, memory_kib=memory, parallelism=lanes, profile="calibrated")


def _measure(
    params: KdfParams,
    clock: Callable[[], float],
    derive: Callable[[bytes, bytes, KdfParams], bytes],
) -> float:
    start = clock()
    derive(b"calibration", bytes(SALT_BYTES), params)
    return clock() - start
