"""One SQLite cache (WAL) for every model and judge call.

Keys cover what changes an output and nothing else: the adapter's identity, the canonical
request (image content hashes, not paths), generation settings and the sample index of a
sampled decode. Only successful generations are stored, so a re-run retries failures. Each
batch is committed as it finishes: a run killed at any moment resumes where it stopped.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from covip_eval.requests import ChatRequest, Generation, stable_hash

SCHEMA_VERSION = 1


def request_key(identity: dict[str, Any], request: ChatRequest, truth_fingerprint: str | None
                ) -> str:
    """What identifies a generation: the model, the request by content, and the ground truth
    for the adapters that read it."""
    return stable_hash({
        "schema": SCHEMA_VERSION,
        "model": identity,
        "request": request.canonical(),
        "ground_truth": truth_fingerprint,
    })


class RequestCache:
    """A persistent map from request keys to generations. `path=None`: a private temporary
    file, deleted when the cache closes (memory holds only sqlite's page cache, so a long run
    does not grow with its generations)."""

    def __init__(self, path: Path | None):
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else "", check_same_thread=False,
                                   timeout=60)
        self._lock = threading.Lock()
        with self._lock:
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, text TEXT NOT NULL,"
                " input_tokens INTEGER, output_tokens INTEGER, created REAL DEFAULT "
                "(strftime('%s', 'now')), cut INTEGER DEFAULT 0)"
            )
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(generations)")}
            if "cut" not in columns:  # a cache written before cut replies were recorded
                self._db.execute("ALTER TABLE generations ADD COLUMN cut INTEGER DEFAULT 0")
            self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, Generation]:
        found: dict[str, Generation] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, text, input_tokens, output_tokens, cut FROM generations "
                    f"WHERE key IN ({marks})", chunk,
                )
                for key, text, tin, tout, cut in rows:
                    found[key] = Generation(text=text, input_tokens=tin or 0,
                                            output_tokens=tout or 0, cut=bool(cut))
        return found

    def put_many(self, items: list[tuple[str, Generation]]) -> None:
        rows = [(k, g.text, g.input_tokens, g.output_tokens, int(g.cut)) for k, g in items
                if g.ok]
        if not rows:
            return
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO generations (key, text, input_tokens, output_tokens, cut) "
                "VALUES (?, ?, ?, ?, ?)", rows,
            )
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

