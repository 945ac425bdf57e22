"""Messages between agents and people: stored before any delivery is tried, then stamped as
they are attempted, typed into a pane, read and acknowledged (ttal.engine.mesh delivers)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ttal.adapters.store.db import Queries, marks

MESSAGE_COLUMNS = (
    "id, ts, sender, recipient, body, task, delivered_ts, file, attempted_ts, read_ts, "
    "delivered_to, acked_ts, attempt"
)

# Two identical messages (same sender, recipient, body) within this window are one resend.
RESEND_WINDOW = 300.0


@dataclass(frozen=True)
class Message:
    id: int
    ts: float
    sender: str
    recipient: str
    body: str
    task: str
    delivered: bool
    file: str = ""
    attempted: bool = False
    read: bool = False
    delivered_to: str = ""  # the incarnation of the recipient's pane it was typed into
    acked: bool = False  # the recipient said it has read it
    attempt: str = ""  # the mark of its latest paste (see mesh.deliver); "" before any

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "ts": self.ts, "from": self.sender, "to": self.recipient,
            "body": self.body, "task": self.task, "file": self.file,
            "delivered": self.delivered, "read": self.read, "acked": self.acked,
        }  # fmt: skip


class MessageQueries(Queries):
    def add_message(
        self,
        sender: str,
        recipient: str,
        body: str,
        key: str,
        task: str = "",
        digest: str = "",
        file: str = "",
    ) -> int:
        """Store a message before any delivery is tried. Returns 0 for a resend: `key` seen
        before, or the same `digest` within RESEND_WINDOW."""
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")  # the check and the insert are one step
        try:
            if (
                digest
                and self.db.execute(
                    "SELECT 1 FROM messages WHERE digest = ? AND ts > ? LIMIT 1",
                    (digest, now - RESEND_WINDOW),
                ).fetchone()
            ):
                return 0
            cur = self.db.execute(
                "INSERT OR IGNORE INTO messages(ts, sender, recipient, body, task, key, digest, "
                "file) VALUES (?,?,?,?,?,?,?,?)",
                (now, sender, recipient, body, task, key, digest, file),
            )
            return int(cur.lastrowid or 0) if cur.rowcount else 0
        finally:
            self.db.execute("COMMIT")

    def mark_attempted(self, ids: list[int], attempt: str) -> None:
        """About to be typed in by the paste that carries the mark `attempt`."""
        if ids:
            self.db.execute(
                "UPDATE messages SET attempted_ts = COALESCE(attempted_ts, ?), attempt = ? "
                f"WHERE id IN ({marks(ids)})",
                (time.time(), attempt, *ids),
            )

    def mark_delivered_many(self, ids: list[int], to: str = "") -> None:
        """`to` is the incarnation of the pane they were typed into (see Tmux.agent_pane)."""
        if ids:
            self.db.execute(
                "UPDATE messages SET delivered_ts = ?, delivered_to = ? "
                f"WHERE id IN ({marks(ids)}) AND delivered_ts IS NULL",
                (time.time(), to, *ids),
            )

    def requeue(self, ids: list[int]) -> None:
        """Back into the queue: typed into a pane whose program died before acknowledging."""
        if ids:
            self.db.execute(
                "UPDATE messages SET delivered_ts = NULL, attempted_ts = NULL, delivered_to = '', "
                "attempt = '' "
                f"WHERE id IN ({marks(ids)}) AND acked_ts IS NULL",
                ids,
            )

    def declare_acking(self, agent: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO acking(agent, since) VALUES (?, ?)",
                        (agent, time.time()))  # fmt: skip

    def acking_since(self, agent: str) -> float | None:
        """When `agent` first said it acknowledges what it reads; None if it never did."""
        row = self.db.execute("SELECT since FROM acking WHERE agent = ?", (agent,)).fetchone()
        return float(row[0]) if row else None

    def ack(self, agent: str, ids: list[int]) -> int:
        """Mark `agent`'s messages `ids` as read by it. Returns how many were new."""
        if not ids:
            return 0
        cur = self.db.execute(
            f"UPDATE messages SET acked_ts = ? WHERE recipient = ? AND id IN ({marks(ids)}) "
            "AND acked_ts IS NULL",
            (time.time(), agent, *ids),
        )
        return cur.rowcount

    # A delivery reads the head of a queue, never all of it: each query is a SEARCH of an
    # index (messages_recipient for the queue; the partial messages_unacked for what waits
    # for an acknowledgement, not the whole delivered history), so a send costs the same
    # with 10,000 messages queued as with none (tests/test_message_scale.py).

    def queue_head(self, recipient: str, limit: int) -> list[Message]:
        """The oldest `limit` of `recipient`'s messages not yet typed in, oldest first."""
        rows = self.db.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE recipient = ? "
            "AND delivered_ts IS NULL ORDER BY id LIMIT ?",
            (recipient, limit),
        ).fetchall()
        return [_message(r) for r in rows]

    def has_unacked(self, agent: str, since: float) -> bool:
        """Has `agent` a message delivered since `since` and not acknowledged?"""
        return bool(
            self.db.execute(
                "SELECT 1 FROM messages INDEXED BY messages_unacked WHERE recipient = ? "
                "AND delivered_ts IS NOT NULL "
                "AND acked_ts IS NULL AND delivered_ts >= ? LIMIT 1",
                (agent, since),
            ).fetchone()
        )

    def unacked_elsewhere(self, agent: str, since: float, incarnation: str) -> list[int]:
        """Ids of `agent`'s messages delivered since `since` into a pane other than
        `incarnation`, and never acknowledged, oldest first."""
        rows = self.db.execute(
            "SELECT id FROM messages INDEXED BY messages_unacked WHERE recipient = ? "
            "AND delivered_ts IS NOT NULL "
            "AND acked_ts IS NULL AND delivered_to != ? AND delivered_ts >= ? ORDER BY id",
            (agent, incarnation, since),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def mark_read(self, ids: list[int]) -> None:
        self._stamp("read_ts", ids)

    def _stamp(self, column: str, ids: list[int]) -> None:
        if ids:
            self.db.execute(
                f"UPDATE messages SET {column} = ? WHERE id IN ({marks(ids)}) AND {column} IS NULL",
                (time.time(), *ids),
            )

    def messages(
        self, recipient: str = "", undelivered: bool = False, limit: int = 0
    ) -> list[Message]:
        sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE 1=1"
        args: list[Any] = []
        if recipient:
            sql += " AND recipient = ?"
            args.append(recipient)
        if undelivered:
            sql += " AND delivered_ts IS NULL"
        sql += " ORDER BY id"
        if limit:
            sql = f"SELECT * FROM ({sql.replace(' ORDER BY id', ' ORDER BY id DESC')} LIMIT ?)"
            sql += " ORDER BY id"
            args.append(limit)
        return [_message(r) for r in self.db.execute(sql, args).fetchall()]

    def message(self, message_id: int) -> Message | None:
        sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?"
        row = self.db.execute(sql, (message_id,)).fetchone()
        return _message(row) if row else None

    def recipients_with_queue(self) -> list[str]:
        """Recipients with messages to type in: queued ones, and, for acknowledging agents,
        delivered ones not yet acknowledged (re-sent if the pane they went to has died)."""
        rows = self.db.execute(
            "SELECT recipient FROM (SELECT recipient, MIN(id) AS first FROM messages "
            "WHERE delivered_ts IS NULL GROUP BY recipient UNION ALL "
            "SELECT m.recipient, MIN(m.id) FROM messages m JOIN acking a ON a.agent = m.recipient "
            "WHERE m.delivered_ts IS NOT NULL AND m.acked_ts IS NULL AND m.delivered_ts >= a.since "
            "GROUP BY m.recipient) GROUP BY recipient ORDER BY MIN(first)"
        ).fetchall()
        return [r[0] for r in rows]

    def unread_counts(self) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT recipient, COUNT(*) FROM messages WHERE read_ts IS NULL AND "
            "(delivered_ts IS NULL OR recipient = 'human') GROUP BY recipient"
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}


def _message(r: tuple[Any, ...]) -> Message:
    return Message(
        id=r[0], ts=r[1], sender=r[2], recipient=r[3], body=r[4], task=r[5],
        delivered=r[6] is not None, file=r[7], attempted=r[8] is not None,
        read=r[9] is not None, delivered_to=r[10], acked=r[11] is not None, attempt=r[12],
    )  # fmt: skip
