#!/usr/bin/env python3
"""The sample-event manifest (events/manifest.toml) and the README table generated from it.

    python3 scripts/event_manifest.py --check   # events/README.md's table matches the manifest
    python3 scripts/event_manifest.py --write   # regenerate that table

Other tools import it: `load()` returns one `Event` per file in events/, `routing_table()` which
functions each must reach (the template tests and scripts/check_deployment.py). Standard library only.
"""
from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

EVENTS = Path(__file__).resolve().parent.parent / "events"
MANIFEST = EVENTS / "manifest.toml"
README = EVENTS / "README.md"
BEGIN = "<!-- events table: generated from manifest.toml by scripts/event_manifest.py --write -->"
END = "<!-- end of events table -->"
COLUMNS = ["file", "expect", "traits", "cluster", "account", "region", "routes to", "purpose"]


@dataclass(frozen=True)
class Event:
    file: str
    expect: str
    traits: tuple[str, ...]
    cluster: str | None
    account: str | None
    region: str | None
    routes_to: frozenset[str]
    purpose: str

    @property
    def actionable(self) -> bool:
        return self.expect == "actionable"


def load(path: Path = MANIFEST) -> list[Event]:
    data = tomllib.loads(path.read_text())
    events = []
    for entry in data.get("event", []):
        unknown = set(entry) - {"file", "expect", "traits", "cluster", "account", "region",
                                "routes_to", "purpose"}
        if unknown:
            raise ValueError(f"{path}: {entry.get('file')}: unknown keys {sorted(unknown)}")
        events.append(Event(
            file=entry["file"], expect=entry["expect"], traits=tuple(entry.get("traits", [])),
            cluster=entry.get("cluster"), account=entry.get("account"), region=entry.get("region"),
            routes_to=frozenset(entry.get("routes_to", [])), purpose=entry["purpose"],
        ))
    files = [e.file for e in events]
    if len(set(files)) != len(files):
        raise ValueError(f"{path}: a file is listed twice")
    return events


def routing_table(path: Path = MANIFEST) -> dict[str, set[str]]:
    """file -> the functions whose deployed rules must deliver it."""
    return {e.file: set(e.routes_to) for e in load(path)}


def table(events: list[Event]) -> str:
    """The markdown table of events/README.md; routes keep the functions' pipeline order."""
    order = ["endpoint-access", "kubernetes-version", "secrets-encryption", "container-vulnerabilities"]

    def cell(values) -> str:
        return ", ".join(values) if values else "-"

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for e in events:
        routes = sorted(e.routes_to, key=lambda f: (order.index(f) if f in order else len(order), f))
        row = [e.file, e.expect, cell(e.traits), e.cluster or "-", e.account or "-",
               e.region or "-", cell(routes), e.purpose]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def readme_with_table(readme: str, events: list[Event]) -> str:
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"{README}: the markers {BEGIN!r} and {END!r} are missing")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table(events)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    if argv not in (["--check"], ["--write"]):
        print(__doc__, file=sys.stderr)
        return 2
    readme = README.read_text()
    want = readme_with_table(readme, load())
    if argv == ["--write"]:
        README.write_text(want)
        print(f"{README.relative_to(EVENTS.parent)}: table written from {MANIFEST.name}")
        return 0
    if readme != want:
        print(f"{README}: the table differs from {MANIFEST.name}; run "
              "python3 scripts/event_manifest.py --write", file=sys.stderr)
        return 1
    print(f"ok: events/README.md's table matches {MANIFEST.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
