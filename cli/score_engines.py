"""The two engines of ``leadscore score``: one process, or Spark with ``spark_udf``.

Both score with the registered model itself — the MLflow pyfunc logged from code
(:mod:`scoring.pyfunc_script`), downloaded once to a local folder — so a file scored
here equals what ``mlflow models serve`` and the API answer for the same leads.

* ``local`` reads the leads file in chunks (:data:`CHUNK_ROWS`), scores each with
  ``mlflow.pyfunc.load_model(...).predict`` and appends it to one Parquet file: memory
  stays flat whatever the file's size.
* ``spark`` hands the same model to ``mlflow.pyfunc.spark_udf`` and writes a Parquet
  folder (Spark's one part file per task). The frames around the model are the same
  functions as the local engine's (:mod:`cli.batch_frames`), run with ``mapInPandas``,
  so both engines give the same numbers. ``pyspark`` is the optional extra
  ``leadscore[spark]``; Spark needs Java 17.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cli.batch_frames import (
    KEY,
    LeadsFileError,
    api_answers,
    model_input,
    output_columns,
)

CHUNK_ROWS = 50_000
"""Leads per chunk of the local engine (a few hundred MB at most with reasons)."""
SPARK_MASTER = "local[2]"


@dataclass(frozen=True)
class ScoringJob:
    """What to score with which model, and how."""

    model_dir: Path
    """The registered version, downloaded (an MLflow model folder)."""
    model_name: str
    model_version: str
    reasons: int = 0
    lang: str = "en"
    as_of: str | None = None
    """The scoring moment of rows that have neither ``as_of`` nor ``mql_at``."""

    @property
    def params(self) -> dict[str, Any]:
        return {"reasons": self.reasons, "lang": self.lang}


def input_kinds(model_dir: Path) -> dict[str, str]:
    """The pyfunc's input columns and their signature types, in the signature's order."""
    from mlflow.models import Model

    schema = Model.load(str(model_dir)).get_input_schema()
    if schema is None:
        raise LeadsFileError("the registered model has no input signature")
    return {spec.name: spec.type.name for spec in schema.inputs}


def read_chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The leads file in chunks of ``rows``: Parquet (file or folder) or CSV."""
    if path.suffix.lower() == ".csv":
        # keep_default_na=False: region "NA" (North America) must not become missing
        yield from pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], chunksize=rows
        )
        return
    import pyarrow.dataset as ds

    for batch in ds.dataset(str(path), format="parquet").to_batches(batch_size=rows):
        yield batch.to_pandas()


def refuse_existing(output: Path, overwrite: bool) -> None:
    """Never write over a file by surprise; ``--overwrite`` replaces only a scores output."""
    if not output.exists():
        return
    if not overwrite:
        raise LeadsFileError(f"{output} exists: pass --overwrite to replace it")
    if output.is_dir():
        if any(output.iterdir()) and not (output / "_SUCCESS").exists():
            raise LeadsFileError(f"{output} is a folder that is not a Spark output: not replaced")
        shutil.rmtree(output)
    else:
        output.unlink()


def score_local(job: ScoringJob, source: Path, output: Path) -> int:
    """Score ``source`` into the Parquet file ``output`` in this process; return the count."""
    import mlflow.pyfunc
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = mlflow.pyfunc.load_model(str(job.model_dir))
    kinds = input_kinds(job.model_dir)
    schema = _arrow_schema(job.reasons > 0)
    scored = 0
    with pq.ParquetWriter(str(output), schema) as writer:
        for chunk in read_chunks(source):
            leads = model_input(chunk, kinds, job.as_of)
            scores = model.predict(leads[list(kinds)], params=job.params)
            answers = api_answers(leads, scores, job.model_name, job.model_version, job.reasons > 0)
            writer.write_table(pa.Table.from_pandas(answers, schema=schema, preserve_index=False))
            scored += len(answers)
    return scored


def spark_session(master: str = SPARK_MASTER, app_name: str = "leadscore-score") -> Any:
    """A Spark session for scoring: UTC session time, Arrow, workers on this Python.

    The executors' Python is this interpreter (the one with MLflow and the model's
    packages); without Java, pyspark says so when the session starts.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # pyspark warns on every pandas UDF that it "does not yet fully support pandas >= 3":
    # the frames here are plain columns of text, numbers and booleans, tested in CI
    warnings.filterwarnings("ignore", message="PySpark does not yet", category=FutureWarning)
    spark = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def score_spark(job: ScoringJob, source: Path, output: Path, spark: Any) -> int:
    """Score ``source`` into the Parquet folder ``output`` with ``spark_udf``; return the count."""
    import pyarrow.dataset as ds

    frame = score_spark_frame(job, read_spark(spark, source))
    frame.write.parquet(str(output))
    return int(ds.dataset(str(output), format="parquet").count_rows())  # from the footers


def read_spark(spark: Any, source: Path) -> Any:
    if source.suffix.lower() == ".csv":
        # quotes doubled inside a quoted field, as pandas and spreadsheets write CSV (the
        # touches' JSON is full of them); every column is text, typed by model_input
        reader = spark.read.option("header", True).option("multiLine", True)
        return reader.option("escape", '"').csv(str(source))
    return spark.read.parquet(str(source))


def score_spark_frame(job: ScoringJob, leads: Any) -> Any:
    """A Spark DataFrame of leads → a Spark DataFrame of the scores file's rows (lazy)."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    kinds = input_kinds(job.model_dir)
    if KEY not in leads.columns:
        raise LeadsFileError(f"the leads file has no {KEY} column")
    present = [c for c in leads.columns if c == KEY or c in kinds]
    typed = _spark_schema([(KEY, "string"), *kinds.items()])
    as_of = job.as_of

    def prepare(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield model_input(batch, kinds, as_of)

    leads = leads.select(*present)
    cores = leads.sparkSession.sparkContext.defaultParallelism
    if leads.rdd.getNumPartitions() < cores:  # one small file is one task: use every core
        leads = leads.repartition(cores)
    prepared = leads.mapInPandas(prepare, typed)
    udf = mlflow.pyfunc.spark_udf(
        leads.sparkSession,
        str(job.model_dir),
        result_type=_spark_schema(_pyfunc_outputs(job.reasons > 0)),
        env_manager="local",
        params=job.params,
    )
    scored = prepared.select(
        KEY,
        "as_of",
        udf(*[F.col(c) for c in kinds]).alias("s"),
    ).select(KEY, "as_of", "s.*")
    name, version, reasons = job.model_name, job.model_version, job.reasons > 0

    def answer(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield api_answers(batch, batch, name, version, reasons)

    return scored.mapInPandas(answer, _spark_schema(output_columns(reasons)))


def _pyfunc_outputs(reasons: bool) -> list[tuple[str, str]]:
    """The pyfunc's output columns (``scoring.pyfunc.LeadScorerModel.predict``)."""
    columns = [
        ("p_won", "double"),
        ("p_sql", "double"),
        ("fit_score", "double"),
        ("engagement_score", "double"),
        ("decision", "string"),
        ("threshold", "double"),
    ]
    return [*columns, *([("reasons", "string")] if reasons else [])]


def _spark_schema(columns: list[tuple[str, str]]) -> str:
    """A DDL schema string; boolean, double and string map one to one."""
    kinds = {"long": "bigint", "integer": "int"}
    return ", ".join(f"`{name}` {kinds.get(kind, kind)}" for name, kind in columns)


def _arrow_schema(reasons: bool) -> Any:
    import pyarrow as pa

    kinds = {"string": pa.string(), "double": pa.float64()}
    return pa.schema([(name, kinds[kind]) for name, kind in output_columns(reasons)])
