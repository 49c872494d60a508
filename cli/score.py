"""``leadscore score``: score a file of leads with a registered model, in batch.

For the nightly re-score of a whole CRM: a Parquet (or CSV) file of leads in the API's
lead shape in, a Parquet file of scores out — ``lead_id``, ``as_of``, ``p_sql``,
``p_won``, the percentiles, ``decision`` (the band: hand to sales / nurture /
disqualify), ``threshold``, the model and version, and with ``--reasons K`` the reasons
as JSON text. The numbers are the API's for the same leads (rounded as it rounds them).

The model is the registered one (``--model``: an alias, ``champion`` by default, or a
version number) from the store of the ``LEADSCORE_`` settings, downloaded once and
pinned to its version, so a promotion during the run does not mix two models in one
file. ``--engine local`` scores in this process; ``--engine spark`` runs
``mlflow.pyfunc.spark_udf`` on a Spark session (``local[2]`` unless ``--master``),
which needs the ``leadscore[spark]`` extra and Java 17 (:mod:`cli.score_engines`).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import progress
from scoring.settings import Settings

if TYPE_CHECKING:
    from cli.score_engines import ScoringJob


class Engine(StrEnum):
    local = "local"
    spark = "spark"


def score(
    input: Annotated[
        Path, typer.Option("--input", help="Leads: a Parquet file or folder, or a CSV file.")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            help="Scores: a Parquet file (local) or folder of part files (spark).",
        ),
    ],
    engine: Annotated[Engine, typer.Option(help="local: this process; spark: spark_udf.")] = (
        Engine.local
    ),
    model: Annotated[
        str, typer.Option(help="Registered alias (champion, challenger) or version number.")
    ] = "champion",
    reasons: Annotated[
        int, typer.Option(min=0, max=20, help="Top reasons each way (0: none; ~1 ms a lead).")
    ] = 0,
    lang: Annotated[str, typer.Option(help="Language of the reason texts: en or ru.")] = "en",
    as_of: Annotated[
        str | None,
        typer.Option(help="Scoring moment (ISO 8601) of leads with neither as_of nor mql_at."),
    ] = None,
    master: Annotated[str, typer.Option(help="Spark master (spark engine).")] = "local[2]",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
) -> None:
    """Score a file of leads with the registered model into a Parquet file of scores."""
    from cli.batch_frames import LeadsFileError, iso_time
    from cli.score_engines import ScoringJob, refuse_existing, score_local

    if as_of is not None:
        try:
            as_of = iso_time(as_of)
        except LeadsFileError:
            raise typer.BadParameter("not an ISO 8601 time", param_hint="--as-of") from None
    if not input.exists():
        raise typer.BadParameter(f"{input} does not exist", param_hint="--input")
    if lang not in ("en", "ru"):
        raise typer.BadParameter("en or ru", param_hint="--lang")
    if engine is Engine.spark:
        _check_spark()
    settings = Settings()
    try:
        refuse_existing(output, overwrite)
    except LeadsFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--output") from None
    with tempfile.TemporaryDirectory(prefix="leadscore-score-") as tmp:
        version, model_dir = download_model(settings, model, Path(tmp))
        job = ScoringJob(model_dir, settings.model_name, version, reasons, lang, as_of)
        progress(f"scoring {input} with {settings.model_name} v{version} ({engine.value})")
        started = time.perf_counter()
        try:
            if engine is Engine.local:
                count = score_local(job, input, output)
            else:
                count = _score_on_spark(job, input, output, master)
        except LeadsFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="--input") from None
    seconds = time.perf_counter() - started
    progress(f"{count:,} leads scored in {seconds:.1f} s → {output}")


def download_model(settings: Settings, ref: str, dest: Path) -> tuple[str, Path]:
    """The version ``ref`` names (an alias or a number) and its model folder, downloaded."""
    import mlflow

    from scoring.registry_client import model_uri, resolve_version, use_store

    client = use_store(settings)
    version = ref if ref.isdigit() else resolve_version(client, settings, ref)
    if version is None:
        raise typer.BadParameter(
            f"no version of {settings.model_name} has the alias {ref!r} in "
            f"{settings.resolved_registry_uri}: train and promote first (leadscore demo)",
            param_hint="--model",
        )
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=model_uri(settings, version), dst_path=str(dest)
    )
    return version, Path(local)


def _check_spark() -> None:
    """Say in one line what Spark lacks, before a JVM's stack trace would."""
    import importlib.util
    import os

    if importlib.util.find_spec("pyspark") is None:
        raise typer.BadParameter(
            "pyspark is not installed: pip install 'leadscore[spark]' (make setup does)",
            param_hint="--engine",
        )
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise typer.BadParameter(
            "Spark needs Java 17 and there is no java on PATH (nor JAVA_HOME): install it "
            "(Debian: apt-get install openjdk-17-jre-headless)",
            param_hint="--engine",
        )


def _score_on_spark(job: ScoringJob, source: Path, output: Path, master: str) -> int:
    from cli.batch_frames import LeadsFileError
    from cli.score_engines import score_spark, spark_session

    spark = spark_session(master)
    try:
        return score_spark(job, source, output, spark)
    except Exception as exc:  # a worker's LeadsFileError comes back inside Spark's error
        found = re.search(r"LeadsFileError: ([^\n]+)", str(exc))
        if found is None:
            raise
        raise LeadsFileError(found.group(1)) from None
    finally:
        spark.stop()
