"""The CRM mapping file: which stage counts as what, which call outcomes are connects, which
deals are tests, and how long is untouched or stuck (defaults in `crm_mapping.yaml`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_PATH = Path(__file__).with_name("crm_mapping.yaml")
SOURCES = ("hubspot", "salesforce")

# The count columns a stage entry or a call may feed (the rest are derived by fixed rules).
StageColumn = Literal["discovery_calls", "demos"]
CallColumn = Literal["leads_prospected"]


class CrmMappingError(ValueError):
    """A mapping file that cannot be used; the message is one line naming file and entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Strict):
    """One stage of the pipeline, in funnel order."""

    id: str
    label: str | None = None
    counts: StageColumn | None = None
    closed: Literal["won", "lost"] | None = None

    @property
    def name(self) -> str:
        """How people read the stage: its label, else its id."""
        return self.label or self.id


class Calls(_Strict):
    counts: CallColumn | None = "leads_prospected"
    connected: list[str] = Field(default_factory=list)


class Meetings(_Strict):
    not_held: list[str] = Field(default_factory=list)


class SourceMapping(_Strict):
    """How one CRM's records become counts."""

    pipelines: list[str] = Field(default_factory=list)
    stages: list[Stage]
    calls: Calls = Calls()
    meetings: Meetings = Meetings()
    test_deals: str | None = None

    @field_validator("test_deals")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _check(self) -> SourceMapping:
        ids = [stage.id for stage in self.stages]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"stage {twice[0]!r} given twice")
        if not any(s.closed == "won" for s in self.stages):
            raise ValueError("no stage is closed: won")
        if not any(s.closed == "lost" for s in self.stages):
            raise ValueError("no stage is closed: lost")
        for stage in self.stages:
            if stage.closed and stage.counts:
                raise ValueError(f"closed stage {stage.id!r} can't count {stage.counts}")
        return self

    def stage(self, stage_id: str) -> Stage | None:
        """The stage with this id, None if the mapping doesn't have it."""
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        return None

    def is_test(self, name: str) -> bool:
        """Whether a deal of this name is a test deal."""
        return bool(self.test_deals and re.search(self.test_deals, name))


class Hygiene(_Strict):
    """When an open deal is untouched or stuck."""

    untouched_days: int = Field(14, ge=1, le=365)
    stuck_factor: float = Field(2.0, ge=1.0, le=20.0)
    stuck_min_stays: int = Field(5, ge=1)
    stuck_days: int = Field(30, ge=1, le=730)


class CrmMapping(_Strict):
    """The mapping of every CRM coach can sync, and the hygiene settings."""

    hubspot: SourceMapping
    salesforce: SourceMapping
    hygiene: Hygiene = Hygiene()

    def source(self, source: str) -> SourceMapping:
        """The mapping of `source` (hubspot or salesforce)."""
        return getattr(self, source)  # type: ignore[no-any-return]


def load_mapping(path: Path | str | None = None) -> CrmMapping:
    """The default mapping, with the sections a team's file at `path` gives replacing them.

    Raises CrmMappingError with a one-line message naming the file and the entry.
    """
    data = _read(DEFAULT_PATH)
    name = str(DEFAULT_PATH.name)
    if path is not None:
        name = str(path)
        team = _read(Path(path))
        unknown = sorted(set(team) - {*SOURCES, "hygiene"})
        if unknown:
            raise CrmMappingError(
                f"{path}: unknown section {unknown[0]!r}: use hubspot, salesforce or hygiene"
            )
        if "hygiene" in team:
            if not isinstance(team["hygiene"], dict):
                raise CrmMappingError(f"{path}: hygiene: expected a mapping of settings")
            team["hygiene"] = {**data.get("hygiene", {}), **team["hygiene"]}
        data = {**data, **team}
    try:
        return CrmMapping.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        raise CrmMappingError(f"{name}: {where}: {message}") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CrmMappingError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise CrmMappingError(f"{path}: not valid YAML: {detail}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CrmMappingError(f"{path}: expected sections hubspot, salesforce, hygiene")
    return data
