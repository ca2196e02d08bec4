"""events/README.md's routing table: which functions each sample event must reach.

One parser for everyone who needs the table: the template tests (tests/template/test_routing.py)
and the check of a deployed stack (scripts/check_deployment.py).
"""

from __future__ import annotations

from pathlib import Path

TABLE_HEADER = ["file", "expect", "traits", "cluster", "account", "region", "routes to", "purpose"]


def routing_table(readme: Path) -> dict[str, set[str]]:
    """file -> functions from the table's `routes to` column (`-` means none)."""
    rows = [line for line in readme.read_text().splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    header_at = [i for i, c in enumerate(cells) if c == TABLE_HEADER]
    if not header_at:
        raise ValueError(f"{readme}: no table with the columns {' | '.join(TABLE_HEADER)}")
    body = cells[header_at[0] + 2:]
    col = TABLE_HEADER.index("routes to")
    table = {}
    for row in body:
        if len(row) != len(TABLE_HEADER):
            raise ValueError(f"{readme}: malformed row {row}")
        table[row[0]] = {r.strip() for r in row[col].split(",")} - {"-", ""}
    return table
