"""Flat CRM exports (one row per lead or deal) → a :class:`~training.history.CRMHistory`.

Real CRMs rarely export the four tables of the data contract. amoCRM, Bitrix24 and
most lead-scoring datasets give *one* table: a row per lead or deal with its fields,
its current stage and maybe a loss reason. A **mapping** (YAML, see
``training/mappings/`` and ``docs/importing.md``) declares, once per CRM, how such a
file becomes contract data:

* how to read it (csv/xlsx, delimiter, encodings to try, date formats, time zone);
* which column is the lead id, the creation / MQL time, the contract fields
  (``channel``, ``industry``, ``company_size``, ``country`` ...), and which extra
  columns are features of their own (numeric / categorical / boolean / ordinal);
* value mappings (source names → :class:`~scoring.contract.Channel`, "Да"/"No" →
  booleans, stage names → won / lost / still open, loss reasons →
  :class:`~scoring.contract.RejectionReason`) and hidden missing values ("Select");
* which columns are **sales-side**: written by sales after contact (X Education's
  Tags, amoCRM's responsible manager, Olist's closed-deal columns). They describe the
  outcome rather than predict it, so they can never be scoring features; one of them
  may be the *reason* column, i.e. the target of the rejection-reason model.

The result is a history the normal pipeline trains on: ``leads`` (contract columns +
extra feature columns), an empty ``touches`` table, one ``feedback`` row per closed
lead (converted → ``accepted``; not converted → ``rejected`` with the mapped reason or
``other``) and one ``won`` outcome per converted lead. With the ``plain`` label rules
(the default for flat exports, see :meth:`ImportedExport.train_config`) that gives
``y_sql = y_won = converted`` for every closed lead, and no label for open ones.

What the importer decides on its own — ids from row numbers, a renamed feature, open
rows set aside, cells a default marker emptied — is reported in
:attr:`ImportedExport.notes` (docs/importing.md, "What the importer does on its own").

Errors name the mapping key and the file column that does not fit; values are quoted
only from vocabulary columns (stages, reasons, sources) and never when they look like
an e-mail address or a phone number, or come from a column declared personal.

Where things are: ``mapping_file`` (with ``mapping_blocks`` and ``mapping_columns``) is
the pydantic model of the YAML file and :func:`parse_mapping`; ``mapping`` the checked
mapping the importer runs on; ``builtin`` the shipped mappings and :func:`load_mapping`;
``readers`` CSV/XLSX reading (encodings, delimiter); ``conversion`` :func:`import_export`
(rows → the contract's tables) with ``values`` (cell conversions); ``export``
:class:`ImportedExport` and its training settings; ``cli_inputs`` what ``leadscore train
--mapping`` needs; ``constants`` and ``errors`` what they say.
"""

from __future__ import annotations

from training.importing.builtin import builtin_mappings, load_mapping
from training.importing.cli_inputs import describe, training_inputs
from training.importing.constants import (
    DEFAULT_MISSING,
    FLAT_DEFAULTS,
    NO_TIME,
    RESERVED_NAMES,
    TRAIN_KEYS,
)
from training.importing.conversion import import_export
from training.importing.errors import MappingError
from training.importing.export import ImportedExport
from training.importing.mapping import Column, CRMMapping, DateRule, FileFormat, Join, OutcomeRule
from training.importing.mapping_file import MappingFile, parse_mapping
from training.importing.readers import read_table

__all__ = [
    "DEFAULT_MISSING",
    "FLAT_DEFAULTS",
    "NO_TIME",
    "RESERVED_NAMES",
    "TRAIN_KEYS",
    "CRMMapping",
    "Column",
    "DateRule",
    "FileFormat",
    "ImportedExport",
    "Join",
    "MappingError",
    "MappingFile",
    "OutcomeRule",
    "builtin_mappings",
    "describe",
    "import_export",
    "load_mapping",
    "parse_mapping",
    "read_table",
    "training_inputs",
]
