from __future__ import annotations

from importlib.resources import files

import pytest

from desktop.core.clients import ClientDetails
from desktop.core.errors import TemplateError, TemplateNotFoundError
from desktop.core.practice import Practice
from desktop.core.templates import TemplateSection, builtin_templates, parse_template


def test_builtin_templates_come_from_the_resources_package() -> None:
    found = builtin_templates()
    assert [t.key for t in found] == ["soap", "dap", "birp", "girp", "free"]
    assert [s.title for s in found[0].sections] == ["Subjective", "Objective", "Assessment", "Plan"]
    assert all(t.builtin and all(s.prompt for s in t.sections) for t in found)
    assert (files("resources") / "templates" / "soap.toml").is_file()


@pytest.mark.parametrize(
    "text",
    [
        "not toml [",
        'format = 2\nname = "x"\n[[sections]]\nkey = "a"\ntitle = "A"\n',
        'format = 1\nname = ""\n[[sections]]\nkey = "a"\ntitle = "A"\n',
        'format = 1\nname = "x"\n',
        'format = 1\nname = "x"\n[[sections]]\nkey = "Bad Key"\ntitle = "A"\n',
        'format = 1\nname = "x"\n[[sections]]\nkey = "a"\ntitle = "A"\n'
        '[[sections]]\nkey = "a"\ntitle = "B"\n',
        'format = 1\nname = "x"\n[[sections]]\nkey = "a"\ntitle = 3\n',
    ],
)
def test_malformed_templates_are_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(text, "t")


def test_own_templates_are_stored_in_the_vault(practice: Practice) -> None:
    sections = (
        TemplateSection("focus", "Focus", "What we worked on"),
        TemplateSection("next", "Next"),
    )
    own = practice.create_template("Couples", sections, "for couples work")
    assert own.key.startswith("custom:") and not own.builtin
    assert practice.templates()[-1] == own
    client = practice.create_client(ClientDetails(name="Cleo Cobblestone"))
    note = practice.create_note(client.id, own.key)
    assert [s.key for s in note.sections] == ["focus", "next"]

    changed = practice.update_template(own.key, "Couples v2", (TemplateSection("only", "Only"),))
    assert changed.name == "Couples v2"
    # the note keeps the template as it was when the note was written
    assert [s.key for s in practice.open_note(note.id).sections] == ["focus", "next"]

    practice.archive_template(own.key)
    assert own.key not in [t.key for t in practice.templates()]
    assert own.key in [t.key for t in practice.templates(include_archived=True)]
    with pytest.raises(TemplateError):
        practice.archive_template("soap")
    with pytest.raises(TemplateError):
        practice.update_template("soap", "x", sections)
    with pytest.raises(TemplateNotFoundError):
        practice.create_note(client.id, "custom:nope")
