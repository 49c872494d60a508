"""All of leadscore's configuration, in one pydantic-settings class.

Every value can be set by an environment variable with the ``LEADSCORE_`` prefix
(``LEADSCORE_HOME``, ``LEADSCORE_TRACKING_URI``, ...) or a ``.env`` file. Paths are
resolved to absolute ones *here*, once: MLflow's ``sqlite:///mlflow.db`` default is
relative to the current folder, so a command run from another folder would silently
open an empty store ("registered model not found").
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """leadscore's settings. Construct once per process and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="LEADSCORE_", env_file=".env", extra="ignore", frozen=True
    )

    home: Path = Field(
        default=Path.home() / ".leadscore",
        description="Folder for the embedded stores: MLflow database, artifacts, feedback DB.",
    )
    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default: SQLite database under `home`."
    )
    registry_uri: str | None = Field(
        default=None, description="MLflow registry URI; default: the tracking URI."
    )
    experiment_name: str = "leadscore"
    model_name: str = Field(default="leadscore", description="Registered model name in MLflow.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the feedback store; default: SQLite under `home`. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    seed: int = 42

    # promotion gate
    promotion_metric: str = "roc_auc_won"
    promotion_margin: float = Field(
        default=0.002, ge=0.0, description="How much better the challenger must be."
    )

    # serving
    batch_max_leads: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    model_poll_seconds: float = Field(
        default=30.0,
        ge=0.0,
        description="How often the server checks whether the alias moved; 0 = never.",
    )
    registry_timeout_seconds: float = Field(default=5.0, gt=0.0)
    top_reasons: int = Field(default=3, ge=0, le=20)
    clock_skew_seconds: float = Field(
        default=300.0,
        ge=0.0,
        le=86_400.0,
        description="How far past the server's clock an `as_of` or event time may be (the "
        "sender's clock may run a little ahead); a later time is refused with a 422.",
    )
    bootstrap_admin_key: str | None = Field(
        default=None,
        description="If set, an admin API key with this value is ensured at start-up (demo, CI).",
    )

    # the handoff SLA (DOMAIN.md), each clock measured on its own event: scoring.lifecycle
    sla_decision_hours: float = Field(
        default=8.0, gt=0.0, description="Accept, reject or return within this long of handoff."
    )
    sla_sql_confirm_hours: float = Field(
        default=4.0, gt=0.0, description="Confirm the SQL (qualification) after acceptance."
    )
    sla_first_contact_hours: float = Field(
        default=24.0, gt=0.0, description="First contact (a `contacted` event) after handoff."
    )
    sla_min_contact_attempts: int = Field(
        default=3, ge=0, description="Contact attempts owed before a no_response rejection."
    )

    # personal data (docs/privacy.md)
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36_500,
        description="Erase a lead whose last score and last feedback are older than this many "
        "days, when `leadscore erase --retention` runs (schedule it daily); unset = keep.",
    )
    erasure_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="HMAC key of the erasure record's lead keys; default: a random key made "
        "once in `home/erasure.key`. Set it when several hosts share one database.",
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @cached_property
    def resolved_tracking_uri(self) -> str:
        """The tracking URI with any relative SQLite or file path made absolute."""
        if self.tracking_uri is None:
            return f"sqlite:///{self.home / 'mlflow.db'}"
        return _absolute_uri(self.tracking_uri)

    @cached_property
    def resolved_registry_uri(self) -> str:
        return _absolute_uri(self.registry_uri) if self.registry_uri else self.resolved_tracking_uri

    @property
    def clock_skew(self) -> timedelta:
        return timedelta(seconds=self.clock_skew_seconds)

    @cached_property
    def artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @cached_property
    def model_cache_dir(self) -> Path:
        """Where the server keeps its last-known-good copy of the serving model."""
        return self.home / "model-cache"

    @cached_property
    def erasure_secret_file(self) -> Path:
        """Where the erasure secret is kept when ``erasure_secret`` is not set."""
        return self.home / "erasure.key"

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url is None:
            return f"sqlite:///{self.home / 'leadscore.db'}"
        return _absolute_uri(self.database_url)

    def ensure_home(self) -> Path:
        """Create the home folder (called by commands, never at import)."""
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home


def _absolute_uri(uri: str) -> str:
    """Make ``sqlite:///relative.db`` and ``file:relative`` URIs absolute; leave others alone."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = uri.removeprefix("sqlite:///")
        if path and path != ":memory:":
            return f"sqlite:///{Path(path).expanduser().resolve()}"
    if "://" not in uri and not uri.startswith("sqlite:"):
        return Path(uri).expanduser().resolve().as_uri()
    return uri
