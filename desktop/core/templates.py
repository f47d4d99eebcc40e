"""Note templates: the built-in ones shipped in ``resources/templates/*.toml`` and the therapist's
own, stored in the vault. A note keeps a snapshot of its template's sections, so editing or
archiving a template never changes a written note.

Template file format (version 1, TOML)::

    format = 1
    name = "SOAP"
    description = "Subjective, Objective, Assessment, Plan"
    order = 1                      # position in the template picker
    [[sections]]
    key = "subjective"             # lower-case identifier, unique in the template
    title = "Subjective"
    prompt = "What the client reports..."
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.errors import TemplateError, TemplateNotFoundError
from desktop.core.stamps import new_id, to_iso

CUSTOM_PREFIX = "custom:"
FREE_FORM = "free"
FORMAT_VERSION = 1
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_SECTIONS = 20
MAX_TITLE = 100
MAX_PROMPT = 1000


@dataclass(frozen=True)
class TemplateSection:
    key: str
    title: str
    prompt: str = ""


@dataclass(frozen=True)
class Template:
    key: str  # "soap", "dap", ... for built-ins; "custom:<id>" for the therapist's own
    name: str
    description: str
    sections: tuple[TemplateSection, ...]
    builtin: bool


def check_sections(sections: tuple[TemplateSection, ...]) -> tuple[TemplateSection, ...]:
    if not 1 <= len(sections) <= MAX_SECTIONS:
        raise TemplateError(f"a template needs between 1 and {MAX_SECTIONS} sections")
    seen: set[str] = set()
    for section in sections:
        if not _KEY.fullmatch(section.key):
            raise TemplateError(
                f"section key {section.key!r} must be lower-case letters, digits or _"
            )
        if section.key in seen:
            raise TemplateError(f"section key {section.key!r} appears twice")
        seen.add(section.key)
        if not section.title.strip() or len(section.title) > MAX_TITLE:
            raise TemplateError(f"section {section.key!r} needs a title of 1-{MAX_TITLE} chars")
        if len(section.prompt) > MAX_PROMPT:
            raise TemplateError(f"the prompt of section {section.key!r} is too long")
    return sections


def parse_template(text: str, key: str) -> Template:
    """Parse one template file; raise ``TemplateError`` on anything unexpected."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"template {key}: {exc}") from None
    if data.get("format") != FORMAT_VERSION:
        raise TemplateError(f"template {key}: unknown format {data.get('format')!r}")
    name = data.get("name")
    raw_sections = data.get("sections")
    if not isinstance(name, str) or not name.strip() or not isinstance(raw_sections, list):
        raise TemplateError(f"template {key}: needs a name and [[sections]]")
    sections = []
    for raw in raw_sections:
        if not isinstance(raw, dict) or not all(
            isinstance(raw.get(f, ""), str) for f in ("key", "title", "prompt")
        ):
            raise TemplateError(f"template {key}: each section needs a key, title and prompt")
        sections.append(
            TemplateSection(raw.get("key", ""), raw.get("title", ""), raw.get("prompt", ""))
        )
    return Template(
        key=key,
        name=name,
        description=str(data.get("description", "")),
        sections=check_sections(tuple(sections)),
        builtin=True,
    )


@functools.cache
def builtin_templates() -> tuple[Template, ...]:
    """SOAP, DAP, BIRP, GIRP and free form, read from the installed ``resources`` package."""
    folder = files("resources") / "templates"
    found: list[tuple[int, Template]] = []
    for entry in folder.iterdir():
        if entry.name.endswith(".toml"):
            key = entry.name.removesuffix(".toml")
            text = entry.read_text(encoding="utf-8")
            order = tomllib.loads(text).get("order", 1000)
            found.append((order if isinstance(order, int) else 1000, parse_template(text, key)))
    return tuple(t for _, t in sorted(found, key=lambda pair: (pair[0], pair[1].key)))


def _custom_from_row(row: tuple[Any, ...]) -> Template:
    sections = tuple(TemplateSection(*s) for s in json.loads(row[3]))
    return Template(CUSTOM_PREFIX + row[0], row[1], row[2], sections, builtin=False)


def list_templates(vault: Vault, *, include_archived: bool = False) -> tuple[Template, ...]:
    """Built-in templates first, then the therapist's own by name. Templates hold no PHI."""
    rows = vault.query(
        "SELECT id, name, description, sections FROM templates"  # noqa: S608 (constant SQL)
        + ("" if include_archived else " WHERE archived = 0")
        + " ORDER BY name COLLATE NOCASE"
    )
    return builtin_templates() + tuple(_custom_from_row(r) for r in rows)


def get_template(vault: Vault, key: str) -> Template:
    if key.startswith(CUSTOM_PREFIX):
        rows = vault.query(
            "SELECT id, name, description, sections FROM templates WHERE id = ?",
            (key.removeprefix(CUSTOM_PREFIX),),
        )
        if rows:
            return _custom_from_row(rows[0])
    else:
        for template in builtin_templates():
            if template.key == key:
                return template
    raise TemplateNotFoundError(f"no template {key!r}")


def _encode_sections(sections: tuple[TemplateSection, ...]) -> str:
    return json.dumps([[s.key, s.title, s.prompt] for s in check_sections(sections)])


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_TITLE:
        raise TemplateError(f"a template needs a name of 1-{MAX_TITLE} characters")
    return name


def create_template(
    vault: Vault, name: str, sections: tuple[TemplateSection, ...], description: str = ""
) -> Template:
    template_id = new_id()
    now = to_iso(vault.options.clock())
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO templates(id, name, description, sections, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (template_id, _check_name(name), description, _encode_sections(sections), now, now),
        )
        tx.audit(AuditAction.TEMPLATE_CREATED, object_type="template", object_id=template_id)
    return get_template(vault, CUSTOM_PREFIX + template_id)


def update_template(
    vault: Vault,
    key: str,
    name: str,
    sections: tuple[TemplateSection, ...],
    description: str = "",
) -> Template:
    template = get_template(vault, key)
    if template.builtin:
        raise TemplateError("built-in templates cannot be edited; save a copy as your own")
    template_id = key.removeprefix(CUSTOM_PREFIX)
    with vault.transaction() as tx:
        tx.execute(
            "UPDATE templates SET name = ?, description = ?, sections = ?, updated_at = ?"
            " WHERE id = ?",
            (
                _check_name(name),
                description,
                _encode_sections(sections),
                to_iso(vault.options.clock()),
                template_id,
            ),
        )
        tx.audit(AuditAction.TEMPLATE_UPDATED, object_type="template", object_id=template_id)
    return get_template(vault, key)


def archive_template(vault: Vault, key: str) -> None:
    """Hide the template from the picker; notes written with it keep their own copy."""
    if get_template(vault, key).builtin:
        raise TemplateError("built-in templates cannot be archived")
    template_id = key.removeprefix(CUSTOM_PREFIX)
    with vault.transaction() as tx:
        tx.execute("UPDATE templates SET archived = 1 WHERE id = ?", (template_id,))
        tx.audit(AuditAction.TEMPLATE_ARCHIVED, object_type="template", object_id=template_id)
