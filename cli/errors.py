"""How the ``leadscore`` command line reports a mistake the user can fix.

One line on stderr — what is wrong, where, how to fix it — and exit code 2 (click's code
for a usage error), instead of a 40–96-line traceback that hides that line. Anything not
recognised here is a bug and keeps its traceback.

The error classes it recognises stay with the code that raises them
(``training.importing.MappingError``, ``training.validate.ValidationFailed``,
``training.benchmark.BenchmarkError``); only the command line's formatting lives here.
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

from scoring.contract import TABLES

USAGE_EXIT = 2
"""Exit code of an expected mistake (a wrong option, path, mapping or export), as click's."""


class CommandGroup(TyperGroup):
    """Turns expected mistakes into one line on stderr and exit code 2.

    A missing folder, an unknown mapping, a mapping that does not fit its file, an
    export too broken to train on, a model that is not registered: the user can fix
    these, and a 40-line traceback hides the one line that says how. Anything else is a
    bug and keeps its traceback. Sub-commands run inside this ``invoke``, so one class
    covers every command (``keys`` too).
    """

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            message = expected_error(exc)
            if message is None:
                raise
            if getattr(exc, "ctx", None) is not None:
                where = exc.ctx.command_path  # type: ignore[attr-defined]
            else:
                where = " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
            typer.echo(f"{where}: error: {message}", err=True)
            raise typer.Exit(USAGE_EXIT) from None


UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)
"""click's UsageError as typer raises it (recent typer ships its own copy of click)."""


def expected_error(exc: BaseException) -> str | None:
    """One line — what is wrong, where, how to fix it — or None for a bug."""
    from mlflow.exceptions import MlflowException
    from pydantic import ValidationError

    from training.benchmark import BenchmarkError
    from training.importing import MappingError
    from training.validate import ValidationFailed
    from training.webtouches import WebTouchesError

    if isinstance(exc, UsageError):
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        return _one_line(exc.format_message()) + hint  # type: ignore[attr-defined]
    if isinstance(exc, MappingError):
        return _one_line(str(exc)) + " (mapping format: docs/importing.md)"
    if isinstance(exc, BenchmarkError):
        return _one_line(str(exc))
    if isinstance(exc, WebTouchesError):
        return _one_line(str(exc)) + " (web-analytics imports: docs/web-analytics.md)"
    if isinstance(exc, ValidationFailed):
        return _validation_line(exc)
    if isinstance(exc, NotADirectoryError | IsADirectoryError | FileNotFoundError):
        return _path_line(exc)
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        return f"invalid setting ({problems}): fix the LEADSCORE_* variable or .env entry"
    if isinstance(exc, MlflowException) and exc.error_code == "RESOURCE_DOES_NOT_EXIST":
        import mlflow

        return (
            f"{_one_line(exc.message)} in the MLflow registry {mlflow.get_registry_uri()}: "
            "train and promote a model first (`leadscore train --promote`), or point "
            "LEADSCORE_HOME / MLFLOW_TRACKING_URI at the store that has it"
        )
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _validation_line(exc: BaseException) -> str:
    """The refusal and its three most common causes, from the validation report."""
    report = getattr(exc, "report", None)
    head = str(exc).split(". Most common problems:")[0].splitlines()[0]
    causes = ""
    if report is not None and not report.empty:
        real = report[~report["problem"].astype(str).str.startswith("its lead was dropped")]
        top = real.groupby(["table", "column", "problem"]).size().sort_values(ascending=False)
        causes = "; most common: " + "; ".join(
            f"{t}.{c} {p} ({n:,} rows)" for (t, c, p), n in top.head(3).items()
        )
    return (
        f"{head}{causes}. Fix those rows in the export, or raise `max_bad_share` "
        "(a mapping's train: section) if the rest is worth training on"
    )


def _path_line(exc: OSError) -> str:
    """Name the path component that is wrong, not the file a library tried to open."""
    path = Path(exc.filename or str(exc))
    if isinstance(exc, NotADirectoryError):
        while path.parent != path and not path.exists():
            path = path.parent
        return (
            f"{path} is a file where a folder was expected: a CRM history is a folder "
            "with leads.csv, touches.csv, feedback.csv and outcomes.csv; a flat CRM "
            "export (csv/xlsx) needs --mapping NAME (docs/importing.md)"
        )
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a folder where a file was expected: give the file's path"
    if path.parent.is_dir():
        if path.stem not in TABLES:
            return f"no {path.name} in {path.parent} (check the path)"
        return (
            f"no {path.name} in {path.parent}: a CRM history folder holds leads.csv, "
            "touches.csv, feedback.csv and outcomes.csv (`leadscore generate` writes one)"
        )
    while path.parent != path and not path.parent.exists():
        path = path.parent
    return f"no such file or folder: {path} (check the path)"
