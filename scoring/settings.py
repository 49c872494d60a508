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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
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
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "mlflow_tracking_uri"),
        description="MLflow's own variable: used when LEADSCORE_TRACKING_URI is not set, "
        "and always inside `mlflow run` (the run it created lives in that store).",
    )
    mlflow_registry_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_REGISTRY_URI", "mlflow_registry_uri"),
        description="MLflow's own variable: used when LEADSCORE_REGISTRY_URI is not set.",
    )
    mlflow_run_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_RUN_ID", "mlflow_run_id"),
        description="Set by `mlflow run`: training logs into this run, not a new one.",
    )
    mlflow_experiment_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_EXPERIMENT_ID", "mlflow_experiment_id"),
        description="MLflow's own variable (set by `mlflow run`): the experiment for new "
        "runs; default: the experiment named `experiment_name`.",
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
    promotion_min_rows: int = Field(
        default=200, ge=1, description="Labelled test rows the gate needs to decide at all."
    )
    promotion_min_positives: int = Field(
        default=20, ge=1, description="Positives, and negatives, the gate needs to decide."
    )
    promotion_confidence: float = Field(
        default=0.95, gt=0.0, lt=1.0, description="Paired-bootstrap interval of the gain."
    )
    promotion_bootstrap: int = Field(
        default=1000, ge=50, description="Paired-bootstrap resamples of the test rows."
    )

    # serving
    batch_max_leads: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    model_poll_seconds: float = Field(
        default=30.0,
        ge=0.0,
        description="How often the server checks whether the alias moved; 0 = never.",
    )
    rollup_refresh_seconds: float = Field(
        default=5.0,
        ge=0.0,
        description="How often the server folds changed leads into the report roll-ups in "
        "the background, so a report request seldom has any left to fold in; 0 = only "
        "when a report is requested.",
    )
    rollup_wait_seconds: float = Field(
        default=20.0,
        ge=0.0,
        description="How long a report or the handoff queue waits for the roll-ups to take in "
        "the latest changes before it answers from them as they stand, saying how many "
        "leads are not in yet (under a storm of scoring the refresh runs behind).",
    )
    registry_timeout_seconds: float = Field(
        default=5.0,
        gt=0.0,
        description="Deadline of each registry call (resolve the alias, download a version).",
    )
    registry_startup_timeout_seconds: float = Field(
        default=2.0,
        gt=0.0,
        description="At start-up, how long the registry may take before the server serves its "
        "local model copy instead (the poller catches up later). Without a local copy the "
        "server waits `registry_timeout_seconds`.",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="Where the server keeps its last-known-good copy of the serving model "
        "(served when the registry is down at start-up); default: `<home>/model-cache`. "
        "Server processes may share one folder: each version is written once, atomically.",
    )
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

    # multi-touch attribution in the reports (serving/reports/attribution.py)
    attribution_half_life_days: float = Field(
        default=7.0,
        gt=0.0,
        le=3650.0,
        description="Time-decay attribution: a touch's credit halves every this many days "
        "before the conversion.",
    )

    # page sessions (/ui) and sign-in protection
    ui_session_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Signing key of page sessions and their form tokens (at least 32 "
        "characters). Set the same value on every server process; default: "
        "`<home>/ui-session.key`, created on first use, shared by the processes of one host.",
    )
    ui_session_idle_minutes: float = Field(
        default=30.0,
        gt=0.0,
        description="A page session ends after this long without a page view.",
    )
    ui_session_max_hours: float = Field(
        default=12.0, gt=0.0, description="A page session ends this long after sign-in."
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone the pages show times in (`Europe/Moscow`) when the "
        "browser has not told its own (the pages' script sends it; `?tz=` overrides).",
    )
    secure_cookies: bool = Field(
        default=False,
        description="Always mark the page cookies `Secure` (set it behind a proxy that ends "
        "TLS, where the server itself sees http); by default only on https requests.",
    )
    auth_max_failures: int = Field(
        default=10,
        ge=1,
        description="Failed authentications (unknown API key, wrong sign-in) a client address, "
        "or a key prefix, may make per window before it is answered 429.",
    )
    auth_failure_window_seconds: float = Field(
        default=300.0,
        gt=0.0,
        description="The window of `auth_max_failures`; a locked-out client waits until it ends.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (redis://host:6379/0) to share failed-authentication counts "
        "between server processes; default: counted in each process.",
    )
    redis_key_prefix: str = Field(
        default="leadscore:",
        min_length=1,
        max_length=100,
        description="Prefix of leadscore's keys in Redis (deployments sharing one Redis differ).",
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

    # the lead's identity on the pages (docs/privacy.md, issue 13 item 5)
    crm_url_template: str | None = Field(
        default=None,
        max_length=1000,
        pattern=r"^https?://[^\s{}]+[^\s]*\{lead_id\}[^\s{}]*$",
        description="Link of a lead in the CRM, `{lead_id}` replaced by the (URL-quoted) lead "
        "id, e.g. `https://crm.example.com/leads/{lead_id}`; used on the sales pages when a "
        "score request sent no `crm_url`. http(s) only; unset = no link.",
    )

    # score push: webhook subscriptions and their delivery worker (docs/webhooks.md)
    webhook_worker: bool = Field(
        default=True,
        description="Run the delivery worker inside `leadscore serve` (off when a separate "
        "`leadscore webhooks worker` delivers).",
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often an idle worker looks for due events."
    )
    webhook_batch: int = Field(default=100, ge=1, le=1000, description="Deliveries per claim.")
    webhook_concurrency: int = Field(
        default=4, ge=1, le=64, description="Requests a worker has in flight at once."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Timeout of one delivery request."
    )
    webhook_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a claimed delivery is a worker's; a worker killed mid-batch "
        "leaves its deliveries to others after this long (so keep it above the timeout).",
    )
    webhook_backoff_base_seconds: float = Field(
        default=10.0, gt=0, description="Wait before the second attempt; doubled each time."
    )
    webhook_backoff_max_seconds: float = Field(
        default=3600.0, gt=0, description="The longest wait between two attempts."
    )
    webhook_max_attempts: int = Field(
        default=16,
        ge=1,
        le=100,
        description="Attempts before a delivery goes to the dead letter (about 8.5 h with "
        "the default back-off).",
    )
    webhook_durable_scores: bool = Field(
        default=True,
        description="While a subscription wants lead events, answer a score only once its "
        "decision (and events) are committed, so a crash cannot lose an answered crossing.",
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"not an IANA time zone (e.g. Europe/Moscow): {value!r}") from exc
        return value

    @property
    def in_mlflow_run(self) -> bool:
        """Launched by ``mlflow run``, which created a run for us in its tracking store."""
        return bool(self.mlflow_run_id and self.mlflow_tracking_uri)

    @cached_property
    def resolved_tracking_uri(self) -> str:
        """The tracking URI with any relative SQLite or file path made absolute.

        Inside ``mlflow run`` the run it created exists only in MLFLOW_TRACKING_URI, so
        that store wins; otherwise LEADSCORE_TRACKING_URI, then MLFLOW_TRACKING_URI (what
        MLflow users set), then the SQLite database under ``home``.
        """
        if self.in_mlflow_run:
            uri = self.mlflow_tracking_uri
        else:
            uri = self.tracking_uri or self.mlflow_tracking_uri
        if uri is None:
            return f"sqlite:///{self.home / 'mlflow.db'}"
        return _absolute_uri(uri)

    @cached_property
    def resolved_registry_uri(self) -> str:
        uri = self.registry_uri or self.mlflow_registry_uri
        return _absolute_uri(uri) if uri else self.resolved_tracking_uri

    @cached_property
    def is_local_store(self) -> bool:
        """Whether runs go to a local store, whose artifacts belong under ``home``."""
        uri = self.resolved_tracking_uri
        return uri.startswith(("sqlite:", "file:")) or "://" not in uri

    @property
    def ui_session_idle(self) -> timedelta:
        return timedelta(minutes=self.ui_session_idle_minutes)

    @property
    def ui_session_max_age(self) -> timedelta:
        return timedelta(hours=self.ui_session_max_hours)

    @property
    def clock_skew(self) -> timedelta:
        return timedelta(seconds=self.clock_skew_seconds)

    @cached_property
    def artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @cached_property
    def resolved_model_cache_dir(self) -> Path:
        """Where the server keeps its last-known-good copy of the serving model."""
        if self.model_cache_dir is None:
            return self.home / "model-cache"
        return self.model_cache_dir.expanduser().resolve()

    @cached_property
    def erasure_secret_file(self) -> Path:
        """Where the erasure secret is kept when ``erasure_secret`` is not set."""
        return self.home / "erasure.key"

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url is None:
            return f"sqlite:///{self.home / 'leadscore.db'}"
        return _absolute_uri(self.database_url)

    def as_environment(self) -> dict[str, str]:
        """``LEADSCORE_*`` variables under which a child process's ``Settings()`` equals these.

        For the jobs the server starts (``leadscore promote``): settings built in the
        process (with overrides, or a test's) reach the child, and the stores go as
        resolved absolute URIs, so the child opens the same ones from any working folder.
        MLflow's own variables are inherited as they are; secrets and the bootstrap key
        are left out (no job needs one).
        """
        env: dict[str, str] = {}
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if (
                value is None
                or isinstance(value, SecretStr)
                or info.validation_alias is not None
                or name == "bootstrap_admin_key"
            ):
                continue
            env[f"LEADSCORE_{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        env["LEADSCORE_TRACKING_URI"] = self.resolved_tracking_uri
        env["LEADSCORE_REGISTRY_URI"] = self.resolved_registry_uri
        env["LEADSCORE_DATABASE_URL"] = self.resolved_database_url
        return env

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
