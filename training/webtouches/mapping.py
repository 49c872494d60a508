"""The touch mapping (YAML): which page, goal or event is which touch, which UTM medium is
which channel, and which columns hold the join keys.

A default ships as ``training/webtouches/default.yaml``; a site copies it and edits the
URL patterns, its Metrika goal ids and its GA4 event names. Every key is checked by the
pydantic model below before any export is read, and a misfit names the key.
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scoring.contract import Channel, TouchType
from training.webtouches.frame import WebTouchesError

DEFAULT_MAPPING = "default.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PageRule(_Strict):
    """A page view whose URL path matches ``pattern`` (a regular expression, searched in
    the path, case-insensitive) is a touch of type ``touch``."""

    pattern: str
    touch: TouchType

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class ChannelRule(_Strict):
    """UTM medium (and, if given, source) values that mean ``channel``; lower-case."""

    medium: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    channel: Channel


class MetrikaKeys(_Strict):
    """The Logs API field (without the ``ym:s:`` / ``ym:pv:`` prefix) holding each key;
    null when the export has none."""

    client_id: str | None = "clientID"
    user_id: str | None = None
    email_sha256: str | None = None


class MetrikaSection(_Strict):
    goals: dict[str, TouchType] = Field(default_factory=dict)
    """Goal id (``ym:s:goalsID``) → touch type; goals not listed make no touch."""
    timezone: str = "Europe/Moscow"
    """The counter's time zone: ``ym:s:dateTime`` and ``ym:pv:dateTime`` are in it."""
    goals_timezone: str = "Europe/Moscow"
    """``ym:s:goalsDateTime`` is documented in UTC+3 whatever the counter's zone."""
    keys: MetrikaKeys = Field(default_factory=MetrikaKeys)

    @field_validator("goals", mode="before")
    @classmethod
    def _goal_ids_as_text(cls, value: Any) -> Any:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


class GA4Keys(_Strict):
    """A top-level field (``user_pseudo_id``, ``user_id``) or ``user_properties.NAME``."""

    client_id: str | None = "user_pseudo_id"
    user_id: str | None = "user_id"
    email_sha256: str | None = "user_properties.email_sha256"


class GA4Section(_Strict):
    page_view_event: str = "page_view"
    """The event classified by its ``page_location`` with the ``pages`` rules."""
    events: dict[str, TouchType] = Field(default_factory=dict)
    """Event name → touch type (``generate_lead``, ``form_submit`` ...); others make none."""
    keys: GA4Keys = Field(default_factory=GA4Keys)


class LeadColumns(_Strict):
    """Columns of the leads table holding the key for each export."""

    metrika_client_id: str = "ym_client_id"
    ga4_client_id: str = "ga_client_id"
    user_id: str = "user_id"
    email_sha256: str = "email_sha256"
    email: str = "email"
    """Hashed on import when ``email_sha256`` is absent; the address is never stored."""


class TouchMapping(_Strict):
    """A checked touch mapping; see ``default.yaml`` for a commented example."""

    name: str
    pages: tuple[PageRule, ...] = ()
    default_page: TouchType = TouchType.PAGE_VIEW
    metrika: MetrikaSection = Field(default_factory=MetrikaSection)
    ga4: GA4Section = Field(default_factory=GA4Section)
    channels: tuple[ChannelRule, ...] = ()
    default_channel: Channel = Channel.OTHER
    """A touch whose UTM medium no rule lists."""
    untagged_channel: Channel = Channel.DIRECT
    """A touch without any UTM medium (nor, for Metrika, a traffic source)."""
    leads: LeadColumns = Field(default_factory=LeadColumns)

    @cached_property
    def _page_patterns(self) -> list[tuple[re.Pattern[str], TouchType]]:
        return [(re.compile(r.pattern, re.IGNORECASE), r.touch) for r in self.pages]

    def page_type(self, url: str) -> str:
        """The touch type of a page view of ``url``: the first rule matching its path."""
        path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
        for pattern, touch in self._page_patterns:
            if pattern.search(path):
                return touch.value
        return self.default_page.value

    def channel(self, source: str | None, medium: str | None) -> str:
        """The contract channel of a touch from its UTM source and medium (lower-cased)."""
        src, med = (source or "").lower(), (medium or "").lower()
        if not med and not src:
            return self.untagged_channel.value
        for rule in self.channels:
            if rule.medium and med not in rule.medium:
                continue
            if rule.source and src not in rule.source:
                continue
            if not rule.medium and not rule.source:
                continue
            return rule.channel.value
        return self.default_channel.value


def load_touch_mapping(ref: str | Path | None = None) -> TouchMapping:
    """The shipped default (``None`` or ``"default"``) or a YAML file."""
    if ref is None or str(ref) == "default":
        text = resources.files("training.webtouches").joinpath(DEFAULT_MAPPING).read_text("utf-8")
        where = "default touch mapping"
    else:
        path = Path(ref)
        if not path.is_file():
            raise WebTouchesError(f"touch mapping {path}: no such file")
        text, where = path.read_text("utf-8"), f"touch mapping {path.name}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WebTouchesError(f"{where}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise WebTouchesError(f"{where}: expected a mapping of keys at the top level")
    try:
        return TouchMapping.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise WebTouchesError(f"{where}: {loc}: {first['msg']}") from None
