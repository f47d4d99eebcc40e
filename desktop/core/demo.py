"""Demo data: realistic, obviously fake clients, sessions and notes, deterministic for a seed.

Fake by construction: surnames from an invented list, e-mail at example.org, phone numbers in the
555-01xx range reserved for fiction, every address on "Demo Lane". Rows are generated in Python
and inserted in batches (one transaction per batch of clients, holding the audit entry that records
that batch), with the search indexes kept by the usual triggers, so 500 clients x 400 notes takes
minutes, not hours; demo notes are signed with real signatures but have no per-note signing entry.

``quietroom demo --clients N --notes-per-client M`` calls ``Practice.fill_demo``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.notes import ADDENDUM_SECTIONS, SEPARATOR
from desktop.core.settings import load_settings
from desktop.core.signature import SignedContent, note_signature
from desktop.core.stamps import to_iso
from desktop.core.templates import Template, builtin_templates

CLIENTS_PER_TRANSACTION = 25

FIRST = [
    "Avery",
    "Blake",
    "Casey",
    "Dana",
    "Eli",
    "Finley",
    "Gray",
    "Harper",
    "Indy",
    "Jules",
    "Kai",
    "Lane",
    "Morgan",
    "Nico",
    "Oakley",
    "Parker",
    "Quinn",
    "Reese",
    "Sage",
    "Tatum",
    "Uma",
    "Val",
    "Wren",
    "Xan",
    "Yael",
    "Zion",
    "Ada",
    "Bram",
    "Cleo",
    "Dev",
    "Esme",
    "Felix",
    "Gia",
    "Hugo",
    "Iris",
    "Jonah",
    "Kira",
    "Leo",
    "Mina",
    "Noor",
    "Otto",
    "Pia",
    "Rafa",
    "Sami",
    "Theo",
    "Una",
    "Vera",
    "Wade",
    "Yara",
    "Zeke",
]
LAST = [
    "Applewood",
    "Brightwater",
    "Cobblestone",
    "Dewberry",
    "Elmsworth",
    "Fernhollow",
    "Gingerfield",
    "Hazelnut",
    "Inkwell",
    "Juniperby",
    "Kettleburn",
    "Lanternfield",
    "Marigold",
    "Nettlecombe",
    "Oakenshaw",
    "Puddleby",
    "Quillfeather",
    "Rosebramble",
    "Saltmarsh",
    "Thistledown",
    "Umberwick",
    "Vellumford",
    "Willowmere",
    "Yarrowby",
    "Zephyrine",
    "Acornfield",
    "Bramblewood",
    "Candlewick",
    "Driftwood",
    "Emberly",
    "Foxglove",
    "Gooseberry",
    "Honeysett",
    "Ivybridge",
    "Jasperton",
    "Kingfisher",
    "Larkspur",
    "Mossbank",
    "Nutmeg",
    "Orchardley",
    "Pebblecroft",
    "Quaywood",
    "Ravensmoor",
    "Snowberry",
    "Teasdale",
    "Underhill",
]
PRONOUNS = ("she/her", "he/him", "they/them", "she/they", "he/they", "")
DIAGNOSES = (
    "F41.1 generalized anxiety disorder",
    "F32.1 major depressive disorder, moderate",
    "F43.10 post-traumatic stress disorder",
    "F33.0 recurrent depression, mild",
    "F42.2 obsessive-compulsive disorder",
    "F40.10 social anxiety disorder",
    "F90.0 ADHD, inattentive type",
    "F43.23 adjustment disorder with mixed anxiety and mood",
    "F41.0 panic disorder",
    "F50.81 binge eating disorder",
    "F34.1 dysthymia",
    "Z63.0 relationship distress with partner",
    "F51.01 primary insomnia",
)
THEMES = (
    "work stress",
    "sleep",
    "grief after a loss",
    "conflict with a partner",
    "panic attacks",
    "low mood",
    "rumination",
    "self-criticism",
    "social avoidance",
    "a move to a new city",
    "caring for a parent",
    "perfectionism",
    "alcohol use",
    "burnout",
    "loneliness",
    "a job interview",
    "exam pressure",
    "family boundaries",
    "body image",
    "procrastination",
    "anger at a sibling",
    "a breakup",
    "health anxiety",
    "parenting strain",
)
FEELINGS = (
    "anxious",
    "tired",
    "hopeful",
    "flat",
    "irritable",
    "overwhelmed",
    "calmer",
    "tearful",
    "restless",
    "more settled",
    "discouraged",
    "relieved",
)
INTERVENTIONS = (
    "cognitive restructuring",
    "a thought record",
    "behavioural activation",
    "diaphragmatic breathing",
    "progressive muscle relaxation",
    "grounding (5-4-3-2-1)",
    "values clarification",
    "exposure hierarchy planning",
    "motivational interviewing",
    "sleep hygiene psychoeducation",
    "a safety plan review",
    "chair work",
    "mindfulness of breath",
    "problem solving",
    "assertiveness role play",
    "a self-compassion exercise",
    "defusion from worry thoughts",
)
MEASURES = ("PHQ-9", "GAD-7", "PCL-5", "ISI", "WHO-5")
HOMEWORK = (
    "keep a sleep diary",
    "complete two thought records",
    "walk for 20 minutes daily",
    "practise breathing twice a day",
    "schedule one pleasant activity",
    "write a letter they will not send",
    "try the first step on the exposure ladder",
    "track worry time",
    "notice and name three emotions a day",
    "call a friend this week",
)

SECTION_SENTENCES: dict[str, tuple[str, ...]] = {
    "client": (
        "Client reported feeling {feeling} since last session, mostly in connection with {theme}.",
        "Client described {theme} as the main concern this week and rated distress {n}/10.",
        "Client said that {theme} has been 'taking up a lot of space' and sleep was {sleep}.",
        "Client shared an example of {theme} at work and noticed feeling {feeling} afterwards.",
        "Client stated they had completed part of the homework and felt {feeling} about it.",
    ),
    "observed": (
        "Client was on time, casually dressed, with {affect} affect and good eye contact.",
        "Speech normal in rate and volume; thought process linear; no evidence of psychosis.",
        "{measure} score today was {score}, compared with {score2} four weeks ago.",
        "Client appeared {feeling} at the start of the session and more settled by the end.",
        "Denied suicidal ideation, intent or plan; no safety concerns identified today.",
    ),
    "intervention": (
        "Therapist introduced {intervention} and linked it to {theme}.",
        "Reviewed homework and used {intervention} to examine a recent episode of {theme}.",
        "Practised {intervention} in session; client engaged well and asked questions.",
        "Explored the pattern around {theme} using Socratic questioning and validation.",
    ),
    "response": (
        "Client responded well to {intervention} and reported distress dropping to {n}/10.",
        "Client found {intervention} difficult at first but was able to complete it.",
        "Client identified one alternative thought about {theme} and rated belief in it {pct}%.",
        "Client was receptive and reflected that {theme} feels more manageable.",
    ),
    "assessment": (
        "Client is making gradual progress toward treatment goals related to {theme}.",
        "Symptoms of {diagnosis} remain present but less intense than at intake.",
        "Progress is slower this month, likely related to increased stress about {theme}.",
        "Risk assessed as low; protective factors include supportive friends and routine.",
    ),
    "plan": (
        "Homework: {homework}. Next session in one week, same time.",
        "Continue weekly sessions; revisit {intervention} and review {measure} next month.",
        "Client agreed to {homework} before the next appointment.",
        "Plan to begin work on {theme} with {intervention} next session.",
    ),
    "goals": (
        "Goal 1: reduce {theme} to a level that allows normal daily functioning.",
        "Goal 2: improve sleep to six or more hours on most nights.",
        "Treatment goal addressed: building skills for coping with {theme}.",
    ),
}
SECTION_SOURCES = {
    "subjective": ("client",), "objective": ("observed",), "assessment": ("assessment",),
    "plan": ("plan",), "data": ("client", "observed"), "behavior": ("client", "observed"),
    "intervention": ("intervention",), "response": ("response",), "goals": ("goals",),
    "note": ("client", "intervention", "plan"),
}  # fmt: skip
PSYCHOTHERAPY_SENTENCES = (
    "Process note: noticed my own urge to reassure when client spoke about {theme}.",
    "Hypothesis: {theme} may repeat an early pattern of seeking approval; explore carefully.",
    "Transference: client seemed to expect criticism from me today, similar to {theme}.",
    "Dream material shared about a locked house; client linked it to {theme}.",
    "For supervision: how to pace the work on {theme} without overwhelming the client.",
)


@dataclass(frozen=True)
class DemoReport:
    clients: int
    sessions: int
    notes: int
    seconds: float


class _Writer:
    def __init__(self, rng: random.Random, now: datetime, author: str) -> None:
        self.rng = rng
        self.now = now
        self.author = author
        self.templates = [t for t in builtin_templates()]
        self.clients: list[tuple[Any, ...]] = []
        self.sessions: list[tuple[Any, ...]] = []
        self.notes: list[tuple[Any, ...]] = []

    def new_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def fill(self, text: str, diagnosis: str, theme: str) -> str:
        r = self.rng
        return text.format(
            feeling=r.choice(FEELINGS), theme=theme if r.random() < 0.7 else r.choice(THEMES),
            n=r.randint(2, 9), sleep=r.choice(("poor", "broken", "better", "about the same")),
            affect=r.choice(("constricted", "anxious", "euthymic", "tearful", "bright")),
            measure=r.choice(MEASURES), score=r.randint(3, 21), score2=r.randint(5, 24),
            intervention=r.choice(INTERVENTIONS), pct=r.randrange(20, 90, 10),
            diagnosis=diagnosis.split(" ", 1)[-1], homework=r.choice(HOMEWORK),
        )  # fmt: skip

    def section_text(self, key: str, diagnosis: str, theme: str) -> str:
        pools = SECTION_SOURCES.get(key, ("client",))
        count = self.rng.randint(2, 3)
        return " ".join(
            self.fill(self.rng.choice(SECTION_SENTENCES[self.rng.choice(pools)]), diagnosis, theme)
            for _ in range(count)
        )

    def client(self, index: int) -> None:
        r = self.rng
        first, last = r.choice(FIRST), r.choice(LAST)
        client_id = self.new_id()
        diagnosis = r.choice(DIAGNOSES)
        created = self.now - timedelta(days=7 * self.notes_per_client + r.randint(1, 30))
        status = r.choices(("active", "waitlist", "discharged"), (85, 5, 10))[0]
        self.clients.append((
            client_id, f"{first} {last}", first if r.random() < 0.3 else "",
            date(r.randint(1950, 2005), r.randint(1, 12), r.randint(1, 28)).isoformat(),
            r.choice(PRONOUNS), f"{first.lower()}.{last.lower()}@example.org",
            f"555-01{r.randint(0, 99):02d}", f"{r.randint(1, 200)} Demo Lane, Sampletown",
            f"{r.choice(FIRST)} {last} (sibling), 555-01{r.randint(0, 99):02d}",
            diagnosis, status, to_iso(created), to_iso(created),
        ))  # fmt: skip
        template = r.choice(self.templates[:4]) if r.random() < 0.9 else self.templates[-1]
        self.client_notes(client_id, diagnosis, template, created)

    notes_per_client = 0

    def client_notes(
        self, client_id: str, diagnosis: str, template: Template, created: datetime
    ) -> None:
        r = self.rng
        n = self.notes_per_client
        weekday_hour = timedelta(hours=r.randint(8, 17))
        modality = r.choices(("in_person", "video", "phone"), (60, 35, 5))[0]
        theme = r.choice(THEMES)
        start = created.replace(hour=0, minute=0, second=0, microsecond=0) + weekday_hour
        last_session: tuple[str, datetime] | None = None
        last_original: tuple[str, str, list[tuple[str, str, str]]] | None = None
        for i in range(n):
            if r.random() < 0.05:
                theme = r.choice(THEMES)
            roll = r.random()
            is_last = i == n - 1
            if last_session is not None and last_original is not None and roll < 0.06:
                kind = (
                    "psychotherapy" if roll < 0.04 else ("amendment" if roll < 0.05 else "addendum")
                )
                self.linked_or_psychotherapy(kind, client_id, diagnosis, theme, last_session,
                                             last_original, is_last)  # fmt: skip
                continue
            session_id = self.new_id()
            starts = start + timedelta(days=7 * i)
            attendance = r.choices(("attended", "cancelled", "no_show"), (90, 6, 4))[0]
            self.sessions.append((session_id, client_id, to_iso(starts), 50, modality,
                                  attendance, to_iso(starts), to_iso(starts)))  # fmt: skip
            ends = starts + timedelta(minutes=50)
            delay = timedelta(hours=r.choice((1, 2, 3, 5, 20, 30)) if r.random() < 0.95 else 72)
            sections = [(s.key, s.title, self.section_text(s.key, diagnosis, theme))
                        for s in template.sections]  # fmt: skip
            note_id = self.new_id()
            self.note(note_id, client_id, session_id, "progress", "original", None, "",
                      template.key, template.name, sections, ends + delay, delay.total_seconds()
                      > 48 * 3600, signed=not is_last)  # fmt: skip
            last_session = (session_id, ends)
            last_original = (note_id, template.key, sections)

    def linked_or_psychotherapy(
        self,
        kind: str,
        client_id: str,
        diagnosis: str,
        theme: str,
        session: tuple[str, datetime],
        original: tuple[str, str, list[tuple[str, str, str]]],
        is_last: bool,
    ) -> None:
        r = self.rng
        session_id, ends = session
        written = ends + timedelta(hours=r.randint(2, 30))
        if kind == "psychotherapy":
            text = " ".join(self.fill(r.choice(PSYCHOTHERAPY_SENTENCES), diagnosis, theme)
                            for _ in range(r.randint(2, 4)))  # fmt: skip
            self.note(self.new_id(), client_id, session_id, "psychotherapy", "original", None, "",
                      "free", "Free form", [("note", "Note", text)], written, False,
                      signed=not is_last)  # fmt: skip
            return
        note_id, template_key, sections = original
        template_name = next(t.name for t in self.templates if t.key == template_key)
        if kind == "amendment":
            fixed = [(k, t, x.replace("one week", "two weeks")) for k, t, x in sections]
            self.note(self.new_id(), client_id, session_id, "progress", "amendment", note_id,
                      "Corrected the date of the next appointment.", template_key, template_name,
                      fixed, written, False, signed=True)  # fmt: skip
        else:
            text = self.fill(
                "Client called after the session: {theme} came up again; "
                "agreed to discuss it next time. Distress {n}/10.",
                diagnosis,
                theme,
            )
            self.note(self.new_id(), client_id, session_id, "progress", "addendum", note_id,
                      "Phone call after the session.", "addendum", "Addendum",
                      [(s.key, s.title, text) for s in ADDENDUM_SECTIONS], written, False,
                      signed=True)  # fmt: skip

    def note(
        self,
        note_id: str,
        client_id: str,
        session_id: str,
        compartment: str,
        kind: str,
        parent_id: str | None,
        reason: str,
        template_key: str,
        template_name: str,
        sections: list[tuple[str, str, str]],
        written: datetime,
        late: bool,
        *,
        signed: bool,
    ) -> None:
        written = min(written, self.now)
        at = to_iso(written)
        signature = None
        if signed:
            signature = note_signature(SignedContent(
                note_id, client_id, session_id, compartment, kind, parent_id, reason,
                template_key, template_name, sections, late, self.author, at,
            ))  # fmt: skip
        self.notes.append((
            note_id, client_id, session_id, compartment, kind, parent_id, reason, template_key,
            template_name, json.dumps([[k, t] for k, t, _ in sections]),
            SEPARATOR.join(x for _, _, x in sections), "signed" if signed else "draft",
            self.author, at, at, at if signed else None, signature, int(late and signed),
        ))  # fmt: skip


def insert_batch(execute: Callable[..., Any], batch: DemoBatch) -> None:
    """One JSON parameter per table and one INSERT ... SELECT into each search index: far fewer
    allocations than a statement per row, which matters with SQLCipher's memory security."""
    (before,) = execute("SELECT coalesce(max(seq), 0) FROM notes").fetchone()
    (clients_before,) = execute("SELECT coalesce(max(seq), 0) FROM clients").fetchone()
    execute("INSERT INTO fts_deferred(flag) VALUES (1)")
    for table, columns, rows in (
        ("clients", _CLIENT_COLUMNS, batch.clients),
        ("sessions", _SESSION_COLUMNS, batch.sessions),
        ("notes", _NOTE_COLUMNS, batch.notes),
    ):
        values = ", ".join(f"value ->> {i}" for i in range(len(columns)))
        execute(
            f"INSERT INTO {table}({', '.join(columns)}) SELECT {values} FROM json_each(?)",  # noqa: S608 (constant SQL)
            (json.dumps(rows),),
        )
    execute("DELETE FROM fts_deferred")
    execute(
        "INSERT INTO clients_fts(rowid, name, preferred_name, diagnosis_codes, email, phone)"
        " SELECT seq, name, preferred_name, diagnosis_codes, email, phone FROM clients"
        " WHERE seq > ?",
        (clients_before,),
    )
    for index, compartment in (("notes_fts", "progress"), ("psychotherapy_fts", "psychotherapy")):
        execute(
            f"INSERT INTO {index}(rowid, body) SELECT seq, body FROM notes"  # noqa: S608 (constant SQL)
            " WHERE seq > ? AND compartment = ?",
            (before, compartment),
        )


_CLIENT_COLUMNS = (
    "id", "name", "preferred_name", "date_of_birth", "pronouns", "email", "phone", "address",
    "emergency_contact", "diagnosis_codes", "status", "created_at", "updated_at",
)  # fmt: skip
_SESSION_COLUMNS = (
    "id", "client_id", "starts_at", "duration_minutes", "modality", "attendance", "created_at",
    "updated_at",
)  # fmt: skip
_NOTE_COLUMNS = (
    "id", "client_id", "session_id", "compartment", "kind", "parent_id", "reason",
    "template_key", "template_name", "sections", "body", "status", "author", "created_at",
    "updated_at", "signed_at", "signature", "late",
)  # fmt: skip


@dataclass
class DemoBatch:
    clients: list[tuple[Any, ...]]
    sessions: list[tuple[Any, ...]]
    notes: list[tuple[Any, ...]]


def demo_batches(
    clients: int, notes_per_client: int, seed: int, now: datetime, author: str
) -> Iterator[DemoBatch]:
    """The demo rows, a batch of clients at a time; the same rows for the same arguments (the
    benchmark builds a plain-SQLite twin of the vault from them)."""
    if clients < 0 or notes_per_client < 0:
        raise ValueError("counts must not be negative")
    writer = _Writer(random.Random(seed), now, author)  # noqa: S311 (demo data, reproducible)
    writer.notes_per_client = notes_per_client
    for first in range(0, clients, CLIENTS_PER_TRANSACTION):
        for index in range(first, min(clients, first + CLIENTS_PER_TRANSACTION)):
            writer.client(index)
        yield DemoBatch(writer.clients, writer.sessions, writer.notes)
        writer.clients, writer.sessions, writer.notes = [], [], []


def fill_demo_vault(vault: Vault, clients: int, notes_per_client: int, seed: int) -> DemoReport:
    """Each batch is one transaction holding its own audit entry, so the log records exactly what
    was committed even if the fill is killed half-way."""
    started = time.perf_counter()
    author = load_settings(vault).author(vault.options.actor)
    totals = [0, 0, 0]
    now = vault.options.clock()
    for number, batch in enumerate(demo_batches(clients, notes_per_client, seed, now, author), 1):
        with vault.transaction() as tx:
            insert_batch(tx.execute, batch)
            tx.audit(
                AuditAction.DEMO_FILLED,
                details={
                    "batch": number,
                    "clients": len(batch.clients),
                    "sessions": len(batch.sessions),
                    "notes": len(batch.notes),
                    "seed": seed,
                },
            )
        totals[0] += len(batch.clients)
        totals[1] += len(batch.sessions)
        totals[2] += len(batch.notes)
    return DemoReport(totals[0], totals[1], totals[2], time.perf_counter() - started)
