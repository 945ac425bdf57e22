"""Agents' diaries: a few lines an agent (or a person) writes for its later self
(`ttal diary`; `ttal context` shows the tail)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ttal.adapters.store.db import Queries


@dataclass(frozen=True)
class DiaryEntry:
    ts: float
    text: str


class DiaryQueries(Queries):
    def add_diary_entry(self, agent: str, text: str) -> None:
        self.db.execute(
            "INSERT INTO diary(agent, ts, text) VALUES (?,?,?)", (agent, time.time(), text)
        )

    def diary_tail(self, agent: str, count: int) -> list[DiaryEntry]:
        """`agent`'s last `count` entries, oldest first."""
        rows = self.db.execute(
            "SELECT ts, text FROM (SELECT id, ts, text FROM diary WHERE agent = ? "
            "ORDER BY id DESC LIMIT ?) ORDER BY id",
            (agent, count),
        ).fetchall()
        return [DiaryEntry(*r) for r in rows]
