"""Weekly 1:1 times, the reps' topics and a workspace's settings, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, time

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.coaching import workspace
from bot.coaching.prep import save_topics, topics_for
from bot.settings import Settings
from storage.forget import forget_person
from storage.models import OneOnOneTopics, Person, Workspace, WorkspaceSettings

WS = "default"
TUESDAY = date(2026, 12, 8)


def setup(engine: Engine) -> tuple[sessionmaker[Session], int]:
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as s:
        s.add(Workspace(id=WS))
        s.commit()
        rep = Person(
            workspace_id=WS,
            email="a@example.com",
            name="A",
            role="rep",
            one_on_one_weekday=1,
            one_on_one_time=time(14, 30),
        )
        s.add(rep)
        s.commit()
        return factory, rep.id


def test_topics_are_kept_per_1_1_and_replaced_when_saved_again(engine: Engine) -> None:
    factory, rep = setup(engine)
    with factory() as s:
        save_topics(s, WS, rep, TUESDAY, "Acme renewal\n\n- territory\n")
        save_topics(s, WS, rep, date(2026, 12, 15), "next week's")
        s.commit()
        save_topics(s, WS, rep, TUESDAY, "• Acme renewal\n* pricing")
        s.commit()
    with factory() as s:
        assert topics_for(s, WS, rep, TUESDAY) == ["Acme renewal", "pricing"]
        assert topics_for(s, WS, rep, date(2026, 12, 1)) == []
        assert s.get(Person, rep).one_on_one_time == time(14, 30)  # type: ignore[union-attr]


def test_forgetting_a_rep_forgets_their_1_1s(engine: Engine) -> None:
    factory, rep = setup(engine)
    with factory() as s:
        save_topics(s, WS, rep, TUESDAY, "private")
        forget_person(s, WS, "a@example.com")
        s.commit()
    with factory() as s:
        assert s.scalars(select(OneOnOneTopics)).all() == []
        person = s.get(Person, rep)
        assert person is not None
        assert (person.one_on_one_weekday, person.one_on_one_time) == (None, None)


def test_a_workspaces_settings_are_saved_and_cleared_back_to_the_defaults(engine: Engine) -> None:
    factory, admin = setup(engine)
    base = Settings(COACH_SEND_TIME="09:00", COACH_ONE_ON_ONE_LEAD=30)
    with factory() as s:
        assert workspace.load(s, base, WS) is base
        checked = workspace.check({"send_time": "08:15", "one_on_one_lead": "45"}, base)
        workspace.save(s, WS, checked.values, admin)
        s.commit()
    with factory() as s:
        mine = workspace.load(s, base, WS)
        assert (mine.coach_send_time, mine.coach_one_on_one_lead) == ("08:15", 45)
        workspace.save(s, WS, workspace.check({}, base).values, admin)
        s.commit()
    with factory() as s:
        [row] = s.scalars(select(WorkspaceSettings)).all()
        assert (row.send_time, row.one_on_one_lead, row.updated_by) == (None, None, admin)
        assert workspace.load(s, base, WS).coach_send_time == "09:00"
