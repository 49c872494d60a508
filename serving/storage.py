"""Durable storage of the scoring server: the decision log, sales feedback and API keys.

One :class:`Store` per process, built on one SQLAlchemy :class:`~sqlalchemy.Engine` from
:func:`make_engine`. SQLite (the embedded default, under ``Settings.home``) and PostgreSQL
(``postgresql+psycopg://...``) behave the same; the differences are handled here:

* SQLite runs in WAL mode with ``synchronous=FULL``, so a feedback row whose request got
  a 201 survives a power cut; write transactions start with ``BEGIN IMMEDIATE`` so two
  writers queue on the busy timeout instead of failing with "database is locked".
* PostgreSQL's schema is whatever the connection's ``search_path`` says, so several
  deployments or test sessions can share one database.

The engine hides bound parameters in error messages and logs (``hide_parameters``):
a failed insert must not put a feedback comment or any personal data into a log line.
Methods are synchronous and thread-safe; FastAPI runs them in its thread pool.

Each group of tables has its own module under :mod:`serving.store` (engine and
migrations, JSON cleaning, decisions, feedback, erasure, API keys, the handoff queue);
this module assembles them into the one :class:`Store` the rest of the server uses.
"""

from __future__ import annotations

from serving.store.decisions import DecisionStore
from serving.store.engine import (
    MIGRATIONS_DIR,
    _alembic_config,
    current_revision,
    head_revision,
    make_engine,
    migration_transaction,
    upgrade,
)
from serving.store.erasure import ErasureStore
from serving.store.feedback import FeedbackStore, IdempotencyConflict
from serving.store.identities import IdentityStore
from serving.store.jsonclean import canonical_json, feature_hash
from serving.store.keys import API_KEY_PREFIX, MIN_API_KEY_LENGTH, KeyStore, hash_api_key
from serving.store.open_leads import OpenLeadStore
from serving.store.outbox import OutboxStore

__all__ = [
    "API_KEY_PREFIX",
    "MIGRATIONS_DIR",
    "MIN_API_KEY_LENGTH",
    "IdempotencyConflict",
    "Store",
    "_alembic_config",
    "canonical_json",
    "current_revision",
    "feature_hash",
    "hash_api_key",
    "head_revision",
    "make_engine",
    "migration_transaction",
    "upgrade",
]


class Store(
    DecisionStore,
    FeedbackStore,
    ErasureStore,
    KeyStore,
    IdentityStore,
    OpenLeadStore,
    OutboxStore,
):
    """The serving database behind one engine: decisions, feedback, erasures, API keys,
    lead identities, the open leads re-scoring reads, and the outbox (score push).

    Thread-safe (the engine pools connections; the key cache has a lock). Every write is
    one transaction, committed durably before the method returns. ``clock`` exists for
    tests; it must return aware datetimes.
    """
