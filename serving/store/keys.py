"""API keys: stored as hashes, looked up through a short cache, revoked at once."""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from serving.roles import Role
from serving.store.base import StoreBase
from serving.store.jsonclean import _sha256
from serving.store.values import _text, _vocabulary
from serving.tables import NAME_LEN, ApiKey

API_KEY_PREFIX = "lsk_"
"""Prefix of generated API keys: makes a leaked key recognisable to secret scanners."""

MIN_API_KEY_LENGTH = 16
"""Shortest raw key :meth:`Store.ensure_api_key` accepts (a bootstrap key from settings)."""


def hash_api_key(raw_key: str) -> str:
    """sha256 hex of a raw API key: what the database stores and looks keys up by.

    A plain hash is enough (no salt, no slow KDF) because generated keys carry 256 bits
    of randomness; nobody can brute-force them from the hash.
    """
    return _sha256(raw_key)


class KeyStore(StoreBase):
    """API keys: create, ensure (the bootstrap key), revoke, resolve, list."""

    def create_api_key(self, name: str, role: Role | str) -> str:
        """Create a key and return the raw key; this is the only time it can be seen.

        Raises ``ValueError`` if an active key already has this name (revoke it first).
        """
        raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
        self._insert_key(raw, name, role)
        return raw

    def _insert_key(self, raw: str, name: str, role: Role | str) -> None:
        checked_name = _text(name, "name", NAME_LEN)
        checked_role = _vocabulary(role, "role", Role, required=True)
        table = ApiKey.__table__
        try:
            with self._write.begin() as conn:
                conn.execute(
                    insert(table).values(
                        name=checked_name,
                        role=checked_role,
                        key_hash=hash_api_key(raw),
                        created_at=self._now(),
                        revoked_at=None,
                    )
                )
        except IntegrityError:
            raise ValueError(f"an active API key named {checked_name!r} already exists") from None
        self._clear_key_cache()

    def revoke_api_key(self, name: str) -> bool:
        """Revoke the active key called ``name``; ``False`` if there was none.

        Takes effect at once in this process; other processes may accept the key for up
        to ``key_cache_seconds`` more.
        """
        table = ApiKey.__table__
        with self._write.begin() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.name == name, table.c.revoked_at.is_(None))
                .values(revoked_at=self._now())
            )
        self._clear_key_cache()
        return bool(result.rowcount)

    def ensure_api_key(self, raw_key: str, name: str, role: Role | str) -> bool:
        """Make sure ``raw_key`` exists (the bootstrap key from settings); ``True`` if created.

        If the key already exists nothing changes, also if it was revoked: revoking a
        bootstrap key is not undone by a restart (remove it from the settings instead).
        A different key holding ``name`` is revoked, so changing the configured value
        rotates the key. Safe when several workers start at once.
        """
        raw = _text(raw_key, "raw_key", 4096)
        if len(raw) < MIN_API_KEY_LENGTH or raw != raw.strip():
            raise ValueError(
                f"API key must be at least {MIN_API_KEY_LENGTH} characters, without "
                "surrounding whitespace"
            )
        checked_name = _text(name, "name", NAME_LEN)
        checked_role = _vocabulary(role, "role", Role, required=True)
        table = ApiKey.__table__
        key_hash = hash_api_key(raw)
        try:
            with self._write.begin() as conn:
                exists = conn.execute(
                    select(table.c.id).where(table.c.key_hash == key_hash)
                ).first()
                if exists is not None:
                    return False
                now = self._now()
                conn.execute(
                    update(table)
                    .where(table.c.name == checked_name, table.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
                conn.execute(
                    insert(table).values(
                        name=checked_name,
                        role=checked_role,
                        key_hash=key_hash,
                        created_at=now,
                        revoked_at=None,
                    )
                )
        except IntegrityError:
            with self._engine.connect() as conn:
                exists = conn.execute(
                    select(table.c.id).where(table.c.key_hash == key_hash)
                ).first()
            if exists is None:
                raise
            return False
        finally:
            self._clear_key_cache()
        return True

    def role_for_key(self, raw_key: str) -> tuple[str, Role] | None:
        """``(name, role)`` of an active key, or ``None``; looked up by hash, briefly cached."""
        if not raw_key:
            return None
        return self.role_for_key_hash(hash_api_key(raw_key))

    def role_for_key_hash(self, key_hash: str) -> tuple[str, Role] | None:
        """:meth:`role_for_key` for a caller that only holds the hash (a page session)."""
        now = time.monotonic()
        cached = self._cached_principal(key_hash, now)
        if cached is not None:
            return cached
        table = ApiKey.__table__
        with self._engine.connect() as conn:
            found = conn.execute(
                select(table.c.name, table.c.role).where(
                    table.c.key_hash == key_hash, table.c.revoked_at.is_(None)
                )
            ).first()
        if found is None:
            return None  # misses are not cached: a key created elsewhere works at once
        principal = (str(found.name), Role(found.role))
        if self._key_cache_seconds > 0:
            with self._key_lock:
                self._key_cache[key_hash] = (now + self._key_cache_seconds, principal)
                self._key_cache.move_to_end(key_hash)
                while len(self._key_cache) > self._key_cache_size:
                    self._key_cache.popitem(last=False)
        return principal

    def cached_role_for_key(self, raw_key: str) -> tuple[str, Role] | None:
        """What :meth:`role_for_key` would answer from the cache alone, or ``None``.

        Never touches the database, so an event loop may call it; ``None`` means "ask
        :meth:`role_for_key`" (a miss, an expired entry or no key), never "invalid".
        """
        if not raw_key:
            return None
        return self._cached_principal(hash_api_key(raw_key), time.monotonic())

    def _cached_principal(self, key_hash: str, now: float) -> tuple[str, Role] | None:
        with self._key_lock:
            cached = self._key_cache.get(key_hash)
            if cached is not None:
                expires, principal = cached
                if expires > now:
                    self._key_cache.move_to_end(key_hash)
                    return principal
                del self._key_cache[key_hash]
        return None

    def list_api_keys(self) -> list[dict[str, Any]]:
        """All keys, oldest first: id, name, role, created_at, revoked_at, active. No hashes."""
        table = ApiKey.__table__
        query = select(
            table.c.id, table.c.name, table.c.role, table.c.created_at, table.c.revoked_at
        ).order_by(table.c.created_at, table.c.id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**dict(r), "active": r["revoked_at"] is None} for r in rows]

    def _clear_key_cache(self) -> None:
        with self._key_lock:
            self._key_cache.clear()
