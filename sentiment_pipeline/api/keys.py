"""API keys in SQLite: only a SHA-256 of each key is stored; the key is shown once.

Keys are 32 random bytes, so a plain hash is safe to store (nothing to brute-force);
lookups go by hash and the final comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sentiment_pipeline import settings, storage

PREFIX = "sp_"
SCOPES = frozenset({"pii"})
SCHEMA = """
create table if not exists api_keys (
    id integer primary key autoincrement,
    name text not null unique,
    key_hash text not null unique,
    scopes text not null default '',
    created_at text not null,
    revoked_at text
)
"""


@dataclass(frozen=True)
class ApiKey:
    name: str
    scopes: frozenset[str]
    created_at: str
    revoked_at: str | None = None


def database_path() -> Path:
    """``SENTIMENT_API_DB``, else ``_state/api_keys.sqlite`` under a local storage root
    (or under ``./.state`` when the storage root is on S3)."""
    loaded = settings.load_settings()
    if loaded.api_db:
        return Path(loaded.api_db)
    root = loaded.roots.storage_root
    state = Path(".state") if storage.is_s3(root) else Path(root) / "_state"
    return state / "api_keys.sqlite"


class KeyStore:
    def __init__(self, path: Path | None = None):
        self.path = Path(path or database_path())

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path)
        connection.execute(SCHEMA)
        return connection

    def create(self, name: str, scopes: set[str] | frozenset[str] = frozenset()) -> str:
        """Store a new key for ``name`` and return it (the only time it is ever visible)."""
        unknown = set(scopes) - SCOPES
        if unknown:
            raise ValueError(f"unknown scope(s) {sorted(unknown)}; known: {sorted(SCOPES)}")
        if not name.strip():
            raise ValueError("a key needs a name")
        key = PREFIX + secrets.token_urlsafe(32)
        with closing(self._connect()) as connection, connection:
            try:
                connection.execute(
                    "insert into api_keys (name, key_hash, scopes, created_at) values (?, ?, ?, ?)",
                    (name, _digest(key), ",".join(sorted(scopes)), _now()),
                )
            except sqlite3.IntegrityError as error:
                raise ValueError(f"a key named {name!r} already exists") from error
        return key

    def verify(self, key: str) -> ApiKey | None:
        """The key's record if it exists and is not revoked; None otherwise (no reason given)."""
        digest = _digest(key)
        with closing(self._connect()) as connection:
            row = connection.execute(
                "select name, key_hash, scopes, created_at, revoked_at from api_keys where key_hash = ?", (digest,)
            ).fetchone()
        if row is None or not hmac.compare_digest(row[1], digest) or row[4] is not None:
            return None
        return ApiKey(row[0], _scopes(row[2]), row[3])

    def list(self) -> list[ApiKey]:
        with closing(self._connect()) as connection:
            rows = connection.execute("select name, scopes, created_at, revoked_at from api_keys order by id").fetchall()
        return [ApiKey(name, _scopes(scopes), created, revoked) for name, scopes, created, revoked in rows]

    def revoke(self, name: str) -> bool:
        with closing(self._connect()) as connection, connection:
            changed = connection.execute(
                "update api_keys set revoked_at = ? where name = ? and revoked_at is null", (_now(), name)
            ).rowcount
        return changed == 1


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _scopes(text: str) -> frozenset[str]:
    return frozenset(s for s in text.split(",") if s)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
