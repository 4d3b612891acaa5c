"""The subset of SOQL the Salesforce stand-in answers, parsed honestly.

Supported: `SELECT f, … FROM Object [WHERE …] [ORDER BY f [ASC|DESC], …] [LIMIT n]`, where a
condition is a comparison (`=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`), `f [NOT] IN (…)`, `NOT`, and
parenthesised groups joined by `AND` or `OR`. Literals: 'strings' (with backslash escapes),
numbers, true/false/null, dates (2024-05-01) and date-times (2024-05-01T10:00:00Z or with an
offset, as SOQL writes them). As in Salesforce, `AND` and `OR` may not be mixed without
parentheses. Anything else (relationship fields, subqueries, date functions and literals such
as LAST_N_DAYS) raises `SoqlError`, answered as MALFORMED_QUERY: the stand-in rejects what it
does not understand rather than guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

Record = dict[str, Any]
Predicate = Callable[[Record], bool]

_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})(?![\dT:])
    | (?P<number>-?\d+(?:\.\d+)?)(?![\w-])
    | (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"SELECT", "FROM", "WHERE", "ORDER", "BY", "LIMIT", "AND", "OR", "NOT", "IN"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


class SoqlError(ValueError):
    """The query is outside the supported subset or malformed; `code` is Salesforce's."""

    def __init__(self, message: str, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Query:
    """A parsed query: fields in order, the object, a row filter, sort keys and a limit."""

    fields: tuple[str, ...]
    sobject: str
    where: Predicate
    where_fields: frozenset[str]
    order_by: tuple[tuple[str, bool], ...]  # (field, descending)
    limit: int | None


@dataclass(frozen=True)
class _Tok:
    kind: str
    value: Any
    text: str


def _tokens(soql: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    position = 0
    while position < len(soql):
        if soql[position:].strip() == "":
            break
        match = _TOKEN.match(soql, position)
        if match is None:
            raise SoqlError(f"unexpected token: '{soql[position:].split()[0]}'")
        position = match.end()
        kind = match.lastgroup or ""
        text = match.group(kind)
        value: Any = text
        if kind == "datetime":
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        elif kind == "date":
            value = date.fromisoformat(text)
        elif kind == "number":
            value = float(text)
        elif kind == "string":
            value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])
        elif kind == "word":
            upper = text.upper()
            if upper in _KEYWORDS:
                kind, value = "keyword", upper
            elif upper in ("TRUE", "FALSE"):
                kind, value = "literal", upper == "TRUE"
            elif upper == "NULL":
                kind, value = "literal", None
        tokens.append(_Tok(kind, value, text))
    return tokens


class _Parser:
    def __init__(self, soql: str, known: Callable[[str], dict[str, str]]) -> None:
        self.tokens = _tokens(soql)
        self.at = 0
        self.known = known
        self.fields_of: dict[str, str] = {}
        self.where_fields: set[str] = set()

    def peek(self) -> _Tok | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> _Tok:
        token = self.peek()
        if token is None:
            raise SoqlError("unexpected end of query")
        self.at += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "keyword" and token.value == word:
            self.at += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word):
            token = self.peek()
            raise SoqlError(f"unexpected token: '{token.text if token else 'end of query'}'")

    def punct(self, char: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.value == char:
            self.at += 1
            return True
        return False

    def field(self) -> str:
        return self._named(self.take())

    def _named(self, token: _Tok) -> str:
        if token.kind != "word":
            raise SoqlError(f"unexpected token: '{token.text}'")
        if "." in token.value:
            raise SoqlError(f"relationship fields are not supported by the stand-in: {token.text}")
        if token.value not in self.fields_of:
            raise SoqlError(
                f"No such column '{token.value}' on entity '{self.sobject}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the custom "
                "field name. Please reference your WSDL or the describe call for the appropriate "
                "names.",
                code="INVALID_FIELD",
            )
        return token.value

    def parse(self) -> Query:
        self.expect("SELECT")
        names = [self._raw_field()]
        while self.punct(","):
            names.append(self._raw_field())
        self.expect("FROM")
        token = self.take()
        if token.kind != "word":
            raise SoqlError(f"unexpected token: '{token.text}'")
        self.sobject = token.value
        self.fields_of = self.known(self.sobject)  # raises INVALID_TYPE for unknown objects
        fields = tuple(self._named(name) for name in names)
        where: Predicate = lambda _record: True  # noqa: E731
        if self.keyword("WHERE"):
            where = self.condition()
        order: list[tuple[str, bool]] = []
        if self.keyword("ORDER"):
            self.expect("BY")
            while True:
                name = self.field()
                descending = False
                token = self.peek()
                if (
                    token is not None
                    and token.kind == "word"
                    and token.value.upper()
                    in (
                        "ASC",
                        "DESC",
                    )
                ):
                    descending = self.take().value.upper() == "DESC"
                order.append((name, descending))
                if not self.punct(","):
                    break
        limit = None
        if self.keyword("LIMIT"):
            token = self.take()
            if token.kind != "number" or token.value != int(token.value) or token.value < 0:
                raise SoqlError(f"unexpected token: '{token.text}'")
            limit = int(token.value)
        if self.peek() is not None:
            raise SoqlError(f"unexpected token: '{self.take().text}'")
        return Query(fields, self.sobject, where, frozenset(self.where_fields), tuple(order), limit)

    def _raw_field(self) -> _Tok:
        token = self.take()
        if token.kind != "word":
            if token.kind == "punct" and token.value == "(":
                raise SoqlError("subqueries are not supported by the stand-in")
            raise SoqlError(f"unexpected token: '{token.text}'")
        return token

    def condition(self) -> Predicate:
        terms = [self.term()]
        joiner: str | None = None
        while True:
            token = self.peek()
            if token is None or token.kind != "keyword" or token.value not in ("AND", "OR"):
                break
            if joiner is not None and token.value != joiner:
                raise SoqlError(f"unexpected token: '{token.text}' (mix AND and OR in parentheses)")
            joiner = self.take().value
            terms.append(self.term())
        if len(terms) == 1:
            return terms[0]
        if joiner == "AND":
            return lambda record: all(term(record) for term in terms)
        return lambda record: any(term(record) for term in terms)

    def term(self) -> Predicate:
        if self.keyword("NOT"):
            inner = self.term()
            return lambda record: not inner(record)
        if self.punct("("):
            inner = self.condition()
            if not self.punct(")"):
                raise SoqlError("expected ')'")
            return inner
        name = self.field()
        self.where_fields.add(name)
        kind = self.fields_of[name]
        negated = self.keyword("NOT")
        if self.keyword("IN"):
            if not self.punct("("):
                raise SoqlError("expected '(' after IN")
            values = [self.literal(kind)]
            while self.punct(","):
                values.append(self.literal(kind))
            if not self.punct(")"):
                raise SoqlError("expected ')'")
            members = set(values)
            return lambda record: (record.get(name) in members) != negated
        if negated:
            raise SoqlError("unexpected token: 'NOT'")
        op = self.take()
        if op.kind != "op":
            raise SoqlError(f"unexpected token: '{op.text}'")
        value = self.literal(kind)
        return _comparison(name, op.value, value)

    def literal(self, kind: str) -> Any:
        token = self.take()
        if token.kind == "literal" and token.value is None:
            return None
        expected = {
            "datetime": ("datetime",),
            "date": ("date",),
            "boolean": ("literal",),
            "double": ("number",),
        }.get(kind, ("string",))
        if token.kind not in expected:
            raise SoqlError(
                f"value of filter criterion for field of type {kind} does not fit: {token.text}",
                code="INVALID_FIELD",
            )
        return token.value


def _comparison(name: str, op: str, value: Any) -> Predicate:
    if op in ("=", "!="):
        equal = op == "="
        return lambda record: (record.get(name) == value) == equal
    if op == "<>":
        return lambda record: record.get(name) != value
    if value is None:
        raise SoqlError(f"null can only be compared with = or !=: {name} {op} null")
    compare = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[op]
    return lambda record: record.get(name) is not None and compare(record[name], value)


def parse(soql: str, fields_of: Callable[[str], dict[str, str]]) -> Query:
    """Parse `soql`; `fields_of(object)` gives an object's field types or raises `SoqlError`."""
    return _Parser(soql, fields_of).parse()
