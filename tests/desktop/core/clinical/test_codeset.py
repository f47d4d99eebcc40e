"""The ICD-10-CM code set: lookup of billable codes, search by code and by words."""

from __future__ import annotations

import pytest

from desktop.core.clinical.codeset import CODE_SET_VERSION, code_set, lookup_code, search_codes
from desktop.core.clinical.errors import CodeNotBillableError, UnknownCodeError


def test_the_whole_code_set_is_there() -> None:
    # FY2026 ICD-10-CM has a little under 75,000 billable codes.
    assert 70_000 < len(code_set()) < 80_000
    assert "2026" in CODE_SET_VERSION


@pytest.mark.parametrize("typed", ["F41.1", "f41.1", "F411", " f411 "])
def test_a_code_is_found_with_or_without_its_dot(typed: str) -> None:
    entry = lookup_code(typed)
    assert (entry.code, entry.description) == ("F41.1", "Generalized anxiety disorder")


def test_headings_and_unknown_codes_are_refused() -> None:
    with pytest.raises(CodeNotBillableError, match="more specific"):
        lookup_code("F32")  # a category: F32.0 ... F32.A are the billable ones
    with pytest.raises(UnknownCodeError):
        lookup_code("Q99.99")
    with pytest.raises(UnknownCodeError):
        lookup_code("")


def test_search_by_code_prefix_offers_billable_codes_only() -> None:
    codes = [e.code for e in search_codes("F43.1")]
    assert codes == ["F43.10", "F43.11", "F43.12"]
    assert [e.code for e in search_codes("T74.11")] == ["T74.11XA", "T74.11XD", "T74.11XS"]


def test_search_by_words_puts_mental_health_codes_first() -> None:
    assert search_codes("generalized anxiety")[0].code == "F41.1"
    found = [e.code for e in search_codes("major depress moderate")]
    assert found[:2] == ["F33.1", "F32.1"]  # the description matches, shortest first
    assert all(e.code.startswith("F") for e in search_codes("anxiety")[:10])
    # words of an inclusion term ("Depression NOS") find the code too
    assert "F32.A" in [e.code for e in search_codes("depressive disorder nos")]


def test_abbreviations_therapists_type() -> None:
    assert {e.code for e in search_codes("PTSD")} == {"F43.10", "F43.11", "F43.12"}
    assert search_codes("gad")[0].code == "F41.1"


def test_nothing_typed_finds_nothing() -> None:
    assert search_codes("") == () and search_codes("  ") == () and search_codes("?!") == ()


def test_a_category_without_subdivisions_is_billable() -> None:
    # F99 is both the name of a block and of a category with no codes under it
    assert lookup_code("F99").description == "Mental disorder, not otherwise specified"


def test_descriptions_that_start_with_the_words_come_first() -> None:
    assert search_codes("panic disorder")[0].code == "F41.0"
    assert search_codes("adjustment disorder")[0].code.startswith("F43.2")
