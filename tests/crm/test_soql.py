"""The stand-in's SOQL subset: what it accepts it answers like Salesforce, the rest it rejects."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.demo import soql
from bot.demo.salesforce_standin import FIELDS


def fields_of(sobject: str) -> dict[str, str]:
    if sobject not in FIELDS:
        raise soql.SoqlError(f"sObject type '{sobject}' is not supported.", code="INVALID_TYPE")
    return FIELDS[sobject]


ROWS = [
    {
        "Id": "006A",
        "StageName": "Prospecting",
        "Amount": 10.0,
        "IsClosed": False,
        "CloseDate": date(2026, 9, 30),
        "SystemModstamp": datetime(2026, 9, 1, 9, tzinfo=UTC),
    },
    {
        "Id": "006B",
        "StageName": "Closed Won",
        "Amount": None,
        "IsClosed": True,
        "CloseDate": None,
        "SystemModstamp": datetime(2026, 9, 1, 9, tzinfo=UTC),
    },
    {
        "Id": "006C",
        "StageName": "It's done",
        "Amount": 30.0,
        "IsClosed": True,
        "CloseDate": date(2026, 10, 2),
        "SystemModstamp": datetime(2026, 9, 2, 9, tzinfo=UTC),
    },
]


def ids(text: str) -> list[str]:
    query = soql.parse(text, fields_of)
    return [row["Id"] for row in ROWS if query.where(row)]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("IsClosed = true", ["006B", "006C"]),
        ("Amount = null", ["006B"]),
        ("Amount != null AND Amount > 15", ["006C"]),
        ("StageName = 'It\\'s done'", ["006C"]),
        ("StageName IN ('Prospecting', 'Closed Won')", ["006A", "006B"]),
        ("StageName NOT IN ('Prospecting')", ["006B", "006C"]),
        ("SystemModstamp > 2026-09-01T09:00:00Z", ["006C"]),
        ("SystemModstamp >= 2026-09-01T11:00:00+02:00", ["006A", "006B", "006C"]),
        ("CloseDate < 2026-10-01", ["006A"]),
        (
            "SystemModstamp > 2026-09-01T09:00:00Z OR (SystemModstamp = 2026-09-01T09:00:00Z AND Id > '006A')",
            ["006B", "006C"],
        ),
        ("NOT (IsClosed = true)", ["006A"]),
    ],
)
def test_filters(where: str, expected: list[str]) -> None:
    assert ids(f"SELECT Id FROM Opportunity WHERE {where}") == expected


def test_fields_order_and_limit() -> None:
    query = soql.parse(
        "select Id, StageName from Opportunity order by SystemModstamp desc, Id limit 2",
        fields_of,
    )
    assert query.fields == ("Id", "StageName")
    assert query.order_by == (("SystemModstamp", True), ("Id", False))
    assert query.limit == 2


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (
            "SELECT Id FROM Opportunity WHERE IsClosed = true AND Amount > 1 OR Amount = null",
            "MALFORMED_QUERY",
        ),
        ("SELECT Id, (SELECT Id FROM OpportunityHistories) FROM Opportunity", "MALFORMED_QUERY"),
        ("SELECT Id, Owner.Email FROM Opportunity", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity WHERE CreatedDate = LAST_N_DAYS:30", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity WHERE", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity LIMIT 2 ORDER BY Id", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity WHERE Amount > null", "MALFORMED_QUERY"),
        ("SELECT Id, Nope__c FROM Opportunity", "INVALID_FIELD"),
        (
            "SELECT Id FROM Opportunity WHERE SystemModstamp > '2026-09-01T09:00:00Z'",
            "INVALID_FIELD",
        ),
        ("SELECT Id FROM Opportunity WHERE IsClosed = 'true'", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE StageName = Closed", "INVALID_FIELD"),
        ("SELECT Id FROM Lead", "INVALID_TYPE"),
    ],
)
def test_rejects_what_it_does_not_support(text: str, code: str) -> None:
    with pytest.raises(soql.SoqlError) as caught:
        soql.parse(text, fields_of)
    assert caught.value.code == code
