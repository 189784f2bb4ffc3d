"""The study database: SQLite (stdlib), WAL journal, ``synchronous=FULL``, one transaction per write.

Tables:

- ``study``: key/value facts the database is bound to: the pairs file's sha256, the two systems, the pair
  ids (a database is never reused with another pairs file).
- ``plan``: per rater, every pair once, in a random order (``position``), each with a random left/right
  arrangement of the two systems. Written in one transaction at the rater's first visit, so a rater resumes
  where they stopped and sees each pair with the same arrangement until they vote.
- ``votes``: one row per (rater, pair) (a UNIQUE constraint: never twice), the arrangement shown, the
  answer to each question as ``left``/``right``/``none``, the UTC timestamp (ms).

A vote is committed before the app answers, and every commit is synced to disk (``synchronous=FULL``), so a
killed server loses no vote it acknowledged. Each thread has its own connection, so any number of server
threads can use the store; SQLite serialises the writers (``BEGIN IMMEDIATE``, busy timeout).
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from m3t_bench.errors import UserError
from m3t_bench.study.questions import CHOICES, QUESTION_KEYS

RATER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
BUSY_TIMEOUT_S = 30.0

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS study (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plan (
    rater TEXT NOT NULL, position INTEGER NOT NULL, pair_id TEXT NOT NULL,
    left_system TEXT NOT NULL, right_system TEXT NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (rater, pair_id), UNIQUE (rater, position));
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rater TEXT NOT NULL, pair_id TEXT NOT NULL, left_system TEXT NOT NULL, right_system TEXT NOT NULL,
    {", ".join(f"{q} TEXT NOT NULL CHECK ({q} IN ({', '.join(repr(c) for c in CHOICES)}))" for q in QUESTION_KEYS)},
    created TEXT NOT NULL,
    UNIQUE (rater, pair_id),
    FOREIGN KEY (rater, pair_id) REFERENCES plan (rater, pair_id));
"""


class VoteRejected(Exception):
    """A vote the store refused; ``status`` is the HTTP status the app answers with (nothing was stored)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Assignment:
    """The pair a rater is shown: its id, the systems on the left and right, its 1-based position, the total."""

    pair_id: str
    left_system: str
    right_system: str
    position: int
    total: int


def utc_now_ms() -> str:
    """UTC timestamp with milliseconds, e.g. ``2026-01-02T03:04:05.678Z``."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def valid_rater(rater) -> bool:
    """Whether ``rater`` is a rater id: 1-64 letters, digits, '.', '_', '@', '-', starting with a letter/digit."""
    return isinstance(rater, str) and RATER_ID.fullmatch(rater) is not None


def check_rater(rater) -> str:
    """``rater`` if :func:`valid_rater`, else :class:`VoteRejected` (400)."""
    if not valid_rater(rater):
        raise VoteRejected(400, "rater id: expected 1-64 letters, digits, '.', '_', '@' or '-' (starting with a "
                                "letter or digit)")
    return rater


class StudyStore:
    """The SQLite file of one study (created on first use, bound to one pairs file)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (opened once per thread: closing the last connection of a WAL database
        checkpoints it, which would cost a checkpoint per request)."""
        con = getattr(self._local, "con", None)
        if con is None:
            try:
                con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                      check_same_thread=True)
                con.execute("PRAGMA synchronous=FULL")
                con.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise UserError(f"not a study database ({exc}); expected an SQLite file written by m3t-bench "
                                f"study serve, or a new path", file=self.path) from None
            self._local.con = con
        return con

    def close(self) -> None:
        """Close this thread's connection (other threads' connections close when their thread ends)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    @contextmanager
    def connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """This thread's connection in autocommit mode; with ``write``, inside ``BEGIN IMMEDIATE`` ...
        ``COMMIT`` (rolled back on any error)."""
        con = self._connection()
        if not write:
            yield con
            return
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ setup
    def initialise(self, pairs) -> None:
        """Create the tables (WAL journal) and bind the database to ``pairs`` (a :class:`PairSet`); refuse a
        database bound to another pairs file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
            with self.connect(write=True) as con:
                for statement in filter(str.strip, _SCHEMA.split(";")):  # (executescript would COMMIT early)
                    con.execute(statement)
                facts = dict(con.execute("SELECT key, value FROM study").fetchall())
                want = {"pairs_sha256": pairs.sha256, "systems": json.dumps(list(pairs.systems)),
                        "pair_ids": json.dumps([p.id for p in pairs.pairs])}
                if not facts:
                    con.executemany("INSERT INTO study (key, value) VALUES (?, ?)",
                                    [*want.items(), ("created", utc_now_ms()), ("pairs_file", str(pairs.path))])
                elif facts.get("pairs_sha256") != pairs.sha256:
                    raise UserError(f"was created for another pairs file ({facts.get('pairs_file')}, sha256 "
                                    f"{facts.get('pairs_sha256', '?')[:12]}…); expected that file, or a new --db",
                                    file=self.path)
        except sqlite3.DatabaseError as exc:
            raise UserError(f"not a study database ({exc}); expected an SQLite file written by m3t-bench study "
                            f"serve, or a new path", file=self.path) from None

    def facts(self) -> dict[str, str]:
        """The ``study`` table (refuses a file that is not a study database)."""
        if not self.path.is_file():
            raise UserError("file not found; expected the --db of m3t-bench study serve", file=self.path)
        try:
            with self.connect() as con:
                return dict(con.execute("SELECT key, value FROM study").fetchall())
        except sqlite3.DatabaseError as exc:
            raise UserError(f"not a study database ({exc})", file=self.path) from None

    # ------------------------------------------------------------------ raters
    def assignment(self, rater: str, pairs) -> Assignment | None:
        """The next pair ``rater`` has not voted on (creating their random plan at the first visit), or
        ``None`` when they have voted on every pair."""
        check_rater(rater)
        with self.connect() as con:
            total = con.execute("SELECT COUNT(*) FROM plan WHERE rater = ?", (rater,)).fetchone()[0]
        if total == 0:  # first visit: the rater's plan
            rng = secrets.SystemRandom()
            order = [p.id for p in pairs.pairs]
            rng.shuffle(order)
            now = utc_now_ms()
            rows = []
            for position, pair_id in enumerate(order):
                left, right = pairs.systems if rng.random() < 0.5 else pairs.systems[::-1]
                rows.append((rater, position, pair_id, left, right, now))
            with self.connect(write=True) as con:  # INSERT OR IGNORE: a concurrent first visit keeps one plan
                if con.execute("SELECT COUNT(*) FROM plan WHERE rater = ?", (rater,)).fetchone()[0] == 0:
                    con.executemany("INSERT INTO plan (rater, position, pair_id, left_system, right_system, created)"
                                    " VALUES (?, ?, ?, ?, ?, ?)", rows)
        with self.connect() as con:
            if total == 0:
                total = con.execute("SELECT COUNT(*) FROM plan WHERE rater = ?", (rater,)).fetchone()[0]
            row = con.execute(
                "SELECT p.pair_id, p.left_system, p.right_system, p.position FROM plan p LEFT JOIN votes v "
                "ON v.rater = p.rater AND v.pair_id = p.pair_id WHERE p.rater = ? AND v.id IS NULL "
                "ORDER BY p.position LIMIT 1", (rater,)).fetchone()
            done = con.execute("SELECT COUNT(*) FROM votes WHERE rater = ?", (rater,)).fetchone()[0]
        if row is None:
            return None
        return Assignment(pair_id=row[0], left_system=row[1], right_system=row[2], position=done + 1, total=total)

    def arrangement(self, rater: str, pair_id: str) -> tuple[str, str] | None:
        """(left system, right system) of ``pair_id`` in ``rater``'s plan, or ``None``."""
        with self.connect() as con:
            row = con.execute("SELECT left_system, right_system FROM plan WHERE rater = ? AND pair_id = ?",
                              (rater, pair_id)).fetchone()
        return None if row is None else (row[0], row[1])

    def record_vote(self, rater: str, pair_id: str, answers: dict[str, str]) -> int:
        """Store one vote in its own transaction and return its row id. :class:`VoteRejected` (nothing
        stored): 400 bad rater id or answers, 404 pair not in the rater's plan, 409 already voted."""
        check_rater(rater)
        for q in QUESTION_KEYS:
            if answers.get(q) not in CHOICES:
                raise VoteRejected(400, f"{q}: expected one of {', '.join(CHOICES)}")
        with self.connect(write=True) as con:
            plan = con.execute("SELECT left_system, right_system FROM plan WHERE rater = ? AND pair_id = ?",
                               (rater, pair_id)).fetchone()
            if plan is None:
                raise VoteRejected(404, f"pair {pair_id!r} is not among the pairs shown to rater {rater!r}")
            try:
                cur = con.execute(
                    f"INSERT INTO votes (rater, pair_id, left_system, right_system, {', '.join(QUESTION_KEYS)}, "
                    f"created) VALUES (?, ?, ?, ?, {', '.join('?' for _ in QUESTION_KEYS)}, ?)",
                    (rater, pair_id, plan[0], plan[1], *(answers[q] for q in QUESTION_KEYS), utc_now_ms()))
            except sqlite3.IntegrityError:
                raise VoteRejected(409, f"rater {rater!r} already voted on pair {pair_id!r}; each pair is rated "
                                        f"once") from None
            return int(cur.lastrowid)

    # ------------------------------------------------------------------ reading
    def votes(self) -> list[dict]:
        """Every vote, oldest first, as dicts (rater, pair_id, left_system, right_system, answers, created)."""
        self.facts()
        with self.connect() as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute("SELECT * FROM votes ORDER BY id")]


__all__ = ["Assignment", "RATER_ID", "StudyStore", "VoteRejected", "check_rater", "utc_now_ms", "valid_rater"]
