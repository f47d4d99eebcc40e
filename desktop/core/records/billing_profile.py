"""The therapist's billing details, as a superbill shows them: name, credentials, license, NPI
(checked with its Luhn check digit), tax id and practice address. Kept in the vault
(``billing_profile``), changes audited by field name only."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.records.errors import BillingError

MAX_TEXT = 200
_EIN = re.compile(r"^\d{2}-?\d{7}$")
_SSN = re.compile(r"^\d{3}-?\d{2}-?\d{4}$")


def npi_is_valid(npi: str) -> bool:
    """The NPI's check digit: Luhn over the 9 digits prefixed with 80840 (CMS, NPI standard)."""
    if not re.fullmatch(r"\d{10}", npi):
        return False
    digits = [int(c) for c in "80840" + npi[:9]]
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 0:  # every second digit from the right, starting with the rightmost
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10 == int(npi[9])


@dataclass(frozen=True)
class BillingProfile:
    name: str = ""
    credentials: str = ""  # e.g. "PhD, LMFT"
    license_number: str = ""  # e.g. "LMFT 123456 (CA)"
    npi: str = ""  # 10 digits, Luhn-checked
    tax_id: str = ""  # EIN (12-3456789) or SSN
    address: str = ""  # practice address, several lines
    phone: str = ""
    email: str = ""

    def check(self) -> BillingProfile:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, str) or len(value) > MAX_TEXT * (
                3 if f.name == "address" else 1
            ):
                raise BillingError(f"{f.name.replace('_', ' ')} is too long")
        npi = self.npi.strip()
        if npi and not npi_is_valid(npi):
            raise BillingError(
                "the NPI must be 10 digits with a valid check digit; compare it with your NPI "
                "letter or the NPPES registry"
            )
        tax = self.tax_id.strip()
        if tax and not (_EIN.match(tax) or _SSN.match(tax)):
            raise BillingError("the tax id must be an EIN (12-3456789) or an SSN (123-45-6789)")
        return self

    @property
    def signs_as(self) -> str:
        return f"{self.name}, {self.credentials}" if self.credentials else self.name

    @property
    def complete(self) -> bool:
        """What an insurer needs to process a superbill."""
        return bool(self.name and self.npi and self.tax_id and self.address)


def load_profile(vault: Vault) -> BillingProfile:
    stored = dict(vault.query("SELECT key, value FROM billing_profile"))
    known = {f.name for f in fields(BillingProfile)}
    values = {k: json.loads(v) for k, v in stored.items() if k in known}
    try:
        return BillingProfile(**values)
    except TypeError:
        return BillingProfile()


def save_profile(vault: Vault, profile: BillingProfile) -> BillingProfile:
    profile = BillingProfile(**{k: v.strip() for k, v in asdict(profile).items()}).check()
    before, after = asdict(load_profile(vault)), asdict(profile)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        return profile
    with vault.transaction() as tx:
        tx.executemany(
            "INSERT INTO billing_profile(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, json.dumps(after[k])) for k in changed],
        )
        tx.audit(
            AuditAction.BILLING_PROFILE_CHANGED,
            object_type="settings",
            details={"fields": ",".join(changed)},
        )
    return profile
