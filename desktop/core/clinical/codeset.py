"""The ICD-10-CM code set, searchable by code and by words.

The codes and their descriptions come from the ``simple-icd-10-cm`` package, which ships the
CDC's ICD-10-CM tabular list (public domain) inside the wheel: nothing is fetched from the network.
Parsing that list takes about two seconds, so it happens once per process, on first use (the UI
searches off the UI thread). No PHI passes through here and nothing is audited: looking up what a
code means is not a look at anyone's record.

Search: text that looks like a code (``F41.1``, ``f411``, ``F4``) matches codes by prefix, with or
without the dot; other text matches descriptions and inclusion terms ("Depression NOS"), every
typed word as the start of a word, accents and case ignored. Mental and behavioural codes
(chapter 5, ``F``) come first, then factors influencing health status (``Z``), then symptoms
(``R``), then the rest; within a group, descriptions that start with the typed words, then those
that hold them in that order, then shorter descriptions first. Only billable codes (the
leaves of the classification) are offered.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import warnings
from dataclasses import dataclass
from typing import Any

from desktop.core.clinical.errors import CodeNotBillableError, UnknownCodeError

CODE_SET = "ICD-10-CM"
# The release the package carries (its data file is named after it); stored with each diagnosis.
CODE_SET_VERSION = "2026 (April 1, 2026 release)"
MAX_RESULTS = 50
_GROUP_ORDER = {"F": 0, "Z": 1, "R": 2}
_CODE_LIKE = re.compile(r"^[A-Za-z]\d[0-9A-Za-z]?\.?[0-9A-Za-z]{0,4}$")


@dataclass(frozen=True)
class CodeEntry:
    """One billable ICD-10-CM code: ``code`` with its dot (``F41.1``)."""

    code: str
    description: str
    inclusion_terms: tuple[str, ...] = ()


# Abbreviations therapists type that the classification spells out.
ALIASES = {
    "adhd": "attention deficit hyperactivity",
    "bpd": "borderline personality",
    "gad": "generalized anxiety",
    "mdd": "major depressive",
    "ocd": "obsessive compulsive",
    "ptsd": "post traumatic stress",
}


@dataclass(frozen=True)
class _Indexed:
    entry: CodeEntry
    bare: str  # the code without its dot, upper case
    description: str  # " word word ...": folded words of the description, each after a space
    everything: str  # the same for the description and the inclusion terms
    group: int


def fold(text: str) -> str:
    """Lower case without accents, as the search compares words."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", fold(text))


class CodeSet:
    """The parsed code set (build one with ``load``; the module keeps one per process)."""

    def __init__(self, entries: list[CodeEntry]) -> None:
        self._by_code: dict[str, _Indexed] = {}
        self._index: list[_Indexed] = []
        for entry in entries:
            description = " " + " ".join(_words(entry.description))
            terms = " ".join(" ".join(_words(t)) for t in entry.inclusion_terms)
            item = _Indexed(
                entry,
                entry.code.replace(".", "").upper(),
                description,
                f"{description} {terms}",
                _GROUP_ORDER.get(entry.code[0], 3),
            )
            self._by_code[item.bare] = item
            self._index.append(item)
        self._index.sort(key=lambda i: (i.group, i.bare))

    def __len__(self) -> int:
        return len(self._index)

    def lookup(self, code: str) -> CodeEntry:
        """The billable code, else ``UnknownCodeError`` or ``CodeNotBillableError``."""
        bare = code.strip().replace(".", "").upper()
        found = self._by_code.get(bare)
        if found is not None:
            return found.entry
        if any(i.bare.startswith(bare) for i in self._index) and bare:
            raise CodeNotBillableError(
                f"{code.strip()} has more specific codes under it; choose one of them"
            )
        raise UnknownCodeError(f"{code.strip() or 'an empty code'} is not an ICD-10-CM code")

    def search(self, text: str, limit: int = MAX_RESULTS) -> tuple[CodeEntry, ...]:
        text = text.strip()
        if not text:
            return ()
        if _CODE_LIKE.match(text):
            bare = text.replace(".", "").upper()
            hits = [i for i in self._index if i.bare.startswith(bare)]
            hits.sort(key=lambda i: (i.bare != bare, len(i.bare), i.bare))
            if hits:
                return tuple(i.entry for i in hits[:limit])
        wanted = [" " + w for q in _words(text) for w in ALIASES.get(q, q).split()]
        if not wanted:
            return ()
        found = [i for i in self._index if all(q in i.everything for q in wanted)]
        # Matches in the description itself before matches through an inclusion term only;
        # descriptions that start with the typed words, then that hold them in that order.
        phrase = "".join(wanted)
        found.sort(
            key=lambda i: (
                i.group,
                not all(q in i.description for q in wanted),
                not i.description.startswith(phrase),
                phrase not in i.description,
                len(i.entry.description),
                i.bare,
            )
        )
        return tuple(i.entry for i in found[:limit])


_lock = threading.Lock()
_loaded: CodeSet | None = None


def _read_package() -> list[CodeEntry]:
    with warnings.catch_warnings():
        # The package reads its data with importlib.resources' legacy API (deprecated, works).
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm  # 2 s of parsing: only when first needed

    api: Any = cm
    # Codes come in tree order (each code right before its descendants), so a code is a leaf
    # when the next one does not extend it; chapters are numbers and blocks ranges ("A00-A09").
    codes = [str(c) for c in api.get_all_codes(True)]
    bare = [c.replace(".", "") for c in codes]
    entries: list[CodeEntry] = []
    for code, this, following in zip(codes, bare, [*bare[1:], ""], strict=True):
        if code.isdigit() or "-" in code or following.startswith(this):
            continue
        terms = tuple(str(t) for t in api.get_inclusion_term(code))
        entries.append(CodeEntry(code, str(api.get_description(code)), terms))
    return entries


def code_set() -> CodeSet:
    """The code set, parsed on first use (about two seconds) and kept for the process."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = CodeSet(_read_package())
        return _loaded


def search_codes(text: str, limit: int = MAX_RESULTS) -> tuple[CodeEntry, ...]:
    return code_set().search(text, limit)


def lookup_code(code: str) -> CodeEntry:
    return code_set().lookup(code)
