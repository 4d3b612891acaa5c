"""The CRM mapping file: defaults, a team's sections over them, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.crm_mapping import CrmMappingError, load_mapping


def test_defaults_map_hubspots_default_pipeline_and_salesforces_standard_stages() -> None:
    mapping = load_mapping()
    hubspot = [(s.id, s.counts, s.closed) for s in mapping.hubspot.stages]
    assert ("appointmentscheduled", "discovery_calls", None) in hubspot
    assert ("presentationscheduled", "demos", None) in hubspot
    assert hubspot[-2:] == [("closedwon", None, "won"), ("closedlost", None, "lost")]
    assert mapping.hubspot.pipelines == ["default"]
    salesforce = {s.id: (s.counts, s.closed) for s in mapping.salesforce.stages}
    assert salesforce["Qualification"] == ("discovery_calls", None)
    assert salesforce["Closed Won"] == (None, "won")
    assert mapping.hubspot.is_test("Test deal - ignore") and not mapping.hubspot.is_test("Contest")
    assert mapping.hygiene.untouched_days == 14


def test_a_teams_section_replaces_the_default_one(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(
        "hubspot:\n  stages:\n    - {id: s1, counts: demos}\n    - {id: won, closed: won}\n"
        "    - {id: lost, closed: lost}\nhygiene: {untouched_days: 7}\n"
    )
    mapping = load_mapping(path)
    assert [s.id for s in mapping.hubspot.stages] == ["s1", "won", "lost"]
    assert mapping.hubspot.pipelines == []  # the whole section is the team's
    assert mapping.salesforce == load_mapping().salesforce
    assert (mapping.hygiene.untouched_days, mapping.hygiene.stuck_days) == (7, 30)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hubspot: [", "not valid YAML"),
        ("pipedrive: {}", "unknown section 'pipedrive': use hubspot, salesforce or hygiene"),
        ("hubspot:\n  stages:\n    - {id: a, closed: lost}\n", "hubspot: no stage is closed: won"),
        (
            "hubspot:\n  stages:\n    - {id: a, counts: wins}\n",
            "hubspot.stages.0.counts: Input should be 'discovery_calls' or 'demos'",
        ),
        (
            "salesforce:\n  stages:\n    - {id: W, closed: won}\n    - {id: W, closed: lost}\n",
            "salesforce: stage 'W' given twice",
        ),
        ("hygiene: {untouched_days: 0}", "hygiene.untouched_days: Input should be greater than"),
        ("hubspot:\n  test_deals: '(('\n  stages: []\n", "hubspot.test_deals: not a regular"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(text)
    with pytest.raises(CrmMappingError) as refused:
        load_mapping(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
