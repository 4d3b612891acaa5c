"""The metric catalogue: which metrics exist, how they are computed and how a manager says them.

The default catalogue ships as `default_metrics.yaml`. A team file (YAML or TOML, the same shape)
extends it (`mode: extend`, the default: new columns and metrics are added, a metric with an
existing key is updated field by field) or replaces its metrics (`mode: replace`). It also says
which columns are amounts rather than whole counts, and which relations between columns no real
month can break (`constraints`), so the import refuses impossible numbers.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_PATH = Path(__file__).with_name("default_metrics.yaml")
CRM_PATH = Path(__file__).with_name("crm_hygiene.yaml")

Kind = Literal["activity", "conversion", "value", "outcome"]
Direction = Literal["higher", "lower"]
ShrinkageModel = Literal["beta_binomial", "gamma_poisson", "normal"]
Unit = Literal["percent", "currency", "days", "ratio", "count"]

_FIELDS = {"mode", "columns", "zero_if_missing", "amounts", "constraints", "metrics"}
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_DEFAULT_MODEL: dict[str, ShrinkageModel] = {
    "activity": "gamma_poisson",
    "conversion": "beta_binomial",
    "value": "normal",
    "outcome": "normal",
}


class CatalogueError(ValueError):
    """A catalogue file that cannot be used; the message names the file and the entry."""


def parse_linear(expression: str) -> dict[str, float]:
    """Parse `wins - inherited_wins + 2 * losses` into {column: coefficient}.

    Only sums and differences of columns, each optionally multiplied by a number, are allowed:
    anything else would let a catalogue compute things the pooling rules cannot add up.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"bad expression {expression!r}") from None
    terms: dict[str, float] = {}

    def walk(node: ast.expr, sign: float) -> None:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            walk(node.left, sign)
            walk(node.right, sign if isinstance(node.op, ast.Add) else -sign)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            walk(node.operand, -sign if isinstance(node.op, ast.USub) else sign)
        elif isinstance(node, ast.Name):
            terms[node.id] = terms.get(node.id, 0.0) + sign
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            number, name = (
                (node.left, node.right)
                if isinstance(node.left, ast.Constant)
                else (node.right, node.left)
            )
            if not (isinstance(number, ast.Constant) and type(number.value) in (int, float)):
                raise ValueError(f"bad expression {expression!r}: multiply a column by a number")
            walk(name, sign * float(number.value))
        else:
            raise ValueError(
                f"bad expression {expression!r}: use columns joined by + and -, "
                "optionally times a number"
            )

    walk(tree, 1.0)
    return {name: coef for name, coef in terms.items() if coef != 0.0}


def parse_check(text: str) -> tuple[dict[str, float], dict[str, float]]:
    """Parse `wins - inherited_wins <= demos` into its two sides, each as parse_linear gives it."""
    parts = text.split("<=")
    if len(parts) != 2 or not all(part.strip() for part in parts):
        raise ValueError(f"bad check {text!r}: write it as 'expression <= expression'")
    return parse_linear(parts[0]), parse_linear(parts[1])


class Constraint(BaseModel):
    """A relation between count columns that real data always meets, like `connects <= leads`.

    Checked on every imported row, or, when `pooled`, on the sums over each rep's months: a
    month's wins may come from last month's demos, but a rep can't win more deals than they
    demoed over time.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str
    pooled: bool = False
    reason: str | None = Field(None, description="How a sales-ops person says it went wrong.")

    @model_validator(mode="after")
    def _parse(self) -> Constraint:
        parse_check(self.check)
        return self

    @property
    def sides(self) -> tuple[dict[str, float], dict[str, float]]:
        """The left and right sides of `left <= right` as {column: coefficient}."""
        return parse_check(self.check)

    @property
    def columns(self) -> set[str]:
        """Every count column the check uses."""
        left, right = self.sides
        return set(left) | set(right)


class Metric(BaseModel):
    """One metric: its formula, how to read it, and how to shrink it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    label: str
    kind: Kind
    direction: Direction
    numerator: str
    denominator: str | None = None
    stage: str | None = None
    unit: Unit | None = None
    model: ShrinkageModel = Field(description="Shrinkage model; defaults from kind.")
    sentence: str | None = None
    denominator_label: str | None = None
    suggestions: list[str] = Field(default_factory=list)
    drivers: list[str] = Field(
        default_factory=list,
        description="Metrics upstream of this one: a weak driver lowers it too (root cause).",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_model(cls, data: Any) -> Any:
        if isinstance(data, dict) and "model" not in data and data.get("kind") in _DEFAULT_MODEL:
            return {**data, "model": _DEFAULT_MODEL[data["kind"]]}
        return data

    @model_validator(mode="after")
    def _check(self) -> Metric:
        if not _NAME.match(self.key):
            raise ValueError("key must be lower-case letters, digits and _")
        for part in ("numerator", "denominator"):
            text = getattr(self, part)
            if text is not None:
                try:
                    parse_linear(text)
                except ValueError as exc:
                    raise ValueError(f"{exc} in {part}") from None
        if self.kind == "activity" and self.denominator is not None:
            raise ValueError("an activity metric is a single count: remove the denominator")
        if self.kind in ("conversion", "value") and self.denominator is None:
            raise ValueError(f"a {self.kind} metric needs a denominator")
        if self.model == "beta_binomial" and self.denominator is None:
            raise ValueError("model beta_binomial needs a denominator")
        if self.key in self.drivers:
            raise ValueError("a metric cannot drive itself")
        if self.sentence is not None:
            try:
                self.sentence.format(value="1")
            except (KeyError, IndexError, ValueError):
                raise ValueError("sentence may only use the placeholder {value}") from None
        return self

    @property
    def numerator_terms(self) -> dict[str, float]:
        """The numerator as {column: coefficient}."""
        return parse_linear(self.numerator)

    @property
    def denominator_terms(self) -> dict[str, float] | None:
        """The denominator as {column: coefficient}, or None for a monthly count."""
        return None if self.denominator is None else parse_linear(self.denominator)

    @property
    def scale_dependent(self) -> bool:
        """Volumes, money and days: they follow the motion (territory, deal size), not only the
        rep's skill, so reps of different segments or disciplines must not be compared on them."""
        return self.kind == "activity" or (
            self.kind == "value" and self.unit in ("currency", "days", "count")
        )

    @property
    def columns(self) -> set[str]:
        """Every count column the formula uses."""
        return set(self.numerator_terms) | set(self.denominator_terms or {})


class Catalogue(BaseModel):
    """The known count columns and the metrics computed from them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: list[str]
    zero_if_missing: list[str] = Field(default_factory=list)
    # Columns of money or days, which needn't be whole; every other column counts things.
    amounts: list[str] = Field(default_factory=list)
    constraints: list[Constraint] = Field(default_factory=list)
    metrics: list[Metric]

    def metric(self, key: str) -> Metric:
        """The metric with this key (KeyError if unknown)."""
        for metric in self.metrics:
            if metric.key == key:
                return metric
        raise KeyError(key)


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """The default catalogue, extended or replaced by the YAML/TOML file at `path` when given.

    Raises CatalogueError with a one-line message naming the file and the entry.
    """
    base = _read(DEFAULT_PATH)
    catalogue = _build(DEFAULT_PATH.name, base, None)
    if path is None:
        return catalogue
    path = Path(path)
    return _build(str(path), _read(path), catalogue)


def with_crm_metrics(catalogue: Catalogue) -> Catalogue:
    """The catalogue with the pipeline hygiene metrics a CRM's records give (`crm_hygiene.yaml`),
    for a workspace whose counts come from a CRM."""
    if "open_deals" in catalogue.columns:
        return catalogue
    return _build(CRM_PATH.name, _read(CRM_PATH), catalogue)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that rejects a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise CatalogueError(f"line {key_node.start_mark.line + 1}: {key!r} given twice")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise CatalogueError(f"{path}: use a .yaml, .yml or .toml file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: cannot read: {exc}") from None
    try:
        data = (
            tomllib.loads(text) if suffix == ".toml" else yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        )
    except CatalogueError as exc:
        raise CatalogueError(f"{path}: {exc}") from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        detail = " ".join(str(exc).split())
        raise CatalogueError(f"{path}: not valid {suffix[1:].upper()}: {detail}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: expected a mapping with 'columns' and 'metrics'")
    return data


def _names(file: str, data: dict[str, Any], field: str) -> list[str]:
    value = data.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogueError(f"{file}: '{field}' must be a list of column names")
    for name in value:
        if not _NAME.match(name):
            raise CatalogueError(f"{file}: column {name!r}: use lower-case letters, digits and _")
    return value


def _build(file: str, data: dict[str, Any], base: Catalogue | None) -> Catalogue:
    unknown = set(data) - {
        "mode",
        "columns",
        "zero_if_missing",
        "amounts",
        "constraints",
        "metrics",
    }
    if unknown:
        raise CatalogueError(f"{file}: unknown field {sorted(unknown)[0]!r}")
    mode = data.get("mode", "extend")
    if mode not in ("extend", "replace"):
        raise CatalogueError(f"{file}: mode must be 'extend' or 'replace', not {mode!r}")
    raw_metrics = data.get("metrics", [])
    if not isinstance(raw_metrics, list):
        raise CatalogueError(f"{file}: 'metrics' must be a list of metrics")

    # Count columns are the data's schema, so even `replace` keeps the known ones: existing CSV
    # files stay importable; only the metric definitions are replaced.
    columns = list(base.columns) if base else []
    zero = list(base.zero_if_missing) if base else []
    columns += [c for c in _names(file, data, "columns") if c not in columns]
    zero += [c for c in _names(file, data, "zero_if_missing") if c not in zero]
    amounts = list(base.amounts) if base else []
    amounts += [c for c in _names(file, data, "amounts") if c not in amounts]
    for field, names in (("zero_if_missing", zero), ("amounts", amounts)):
        for name in names:
            if name not in columns:
                raise CatalogueError(f"{file}: {field}: unknown column {name!r}")
    # Like the columns, the shipped constraints describe the data, so `replace` keeps them unless
    # the file gives its own list; `extend` adds to them, and a check given again replaces the
    # shipped one (to pool it or reword its reason).
    checks = {c.check: c for c in base.constraints} if base else {}
    if "constraints" in data and mode == "replace":
        checks = {}
    for constraint in _constraints(file, data.get("constraints", []), columns):
        checks[constraint.check] = constraint
    constraints = list(checks.values())

    merged: dict[str, dict[str, Any]] = {}
    if base is not None and mode == "extend":
        merged = {m.key: m.model_dump(exclude_none=True) for m in base.metrics}
    seen: set[str] = set()
    for position, entry in enumerate(raw_metrics, 1):
        if not isinstance(entry, dict):
            raise CatalogueError(f"{file}: metric #{position}: expected a mapping")
        key = entry.get("key")
        if not isinstance(key, str) or not key:
            raise CatalogueError(f"{file}: metric #{position}: missing field 'key'")
        if key in seen:
            raise CatalogueError(f"{file}: metric {key!r}: defined twice")
        seen.add(key)
        previous = merged.get(key, {})
        if "kind" in entry and "model" not in entry:
            previous = {k: v for k, v in previous.items() if k != "model"}  # re-default from kind
        merged[key] = {**previous, **entry}

    metrics = [_metric(file, key, fields, columns) for key, fields in merged.items()]
    if not metrics:
        raise CatalogueError(f"{file}: no metrics defined")
    keys = {m.key for m in metrics}
    for metric in metrics:
        for driver in metric.drivers:
            if driver not in keys:
                raise CatalogueError(f"{file}: metric {metric.key!r}: unknown driver {driver!r}")
    return Catalogue(
        columns=columns,
        zero_if_missing=zero,
        amounts=amounts,
        constraints=constraints,
        metrics=metrics,
    )


def _constraints(file: str, raw: Any, columns: list[str]) -> list[Constraint]:
    """The `constraints` list: check strings, or mappings of `check`, `pooled` and `reason`."""
    if not isinstance(raw, list):
        raise CatalogueError(f"{file}: 'constraints' must be a list of checks like 'a <= b'")
    out = []
    for position, entry in enumerate(raw, 1):
        fields = {"check": entry} if isinstance(entry, str) else entry
        where = f"{file}: constraint #{position}"
        if not isinstance(fields, dict):
            raise CatalogueError(f"{where}: expected a check like 'connects <= leads_prospected'")
        try:
            constraint = Constraint.model_validate(fields)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            raise CatalogueError(f"{where}: {field + ': ' if field else ''}{message}") from None
        for name in sorted(constraint.columns):
            if name not in columns:
                raise CatalogueError(f"{where} {constraint.check!r}: unknown column {name!r}")
        out.append(constraint)
    return out


def _metric(file: str, key: str, fields: dict[str, Any], columns: list[str]) -> Metric:
    where = f"{file}: metric {key!r}"
    try:
        metric = Metric.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        if error["type"] == "missing":
            raise CatalogueError(f"{where}: missing field {field!r}") from None
        if error["type"] == "extra_forbidden":
            raise CatalogueError(f"{where}: unknown field {field!r}") from None
        message = error["msg"].removeprefix("Value error, ")
        if field:
            given = error.get("input")
            message = f"{field}: {message}" + (f" (got {given!r})" if given is not None else "")
        raise CatalogueError(f"{where}: {message}") from None
    for part in ("numerator", "denominator"):
        text = getattr(metric, part)
        for name in parse_linear(text) if text else {}:
            if name not in columns:
                raise CatalogueError(f"{where}: unknown column {name!r} in {part}")
    return metric
