"""The cadence of every workspace coach serves, each with its own bot token."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine

from bot.cadence.jobs import Cadence, Job, Run
from bot.coaching.services import Services
from bot.slack.client import make_web_client
from bot.slack.installs import Workspace, installed_workspaces, workspaces_for

log = logging.getLogger(__name__)


class EveryWorkspace:
    """One `Cadence` per served workspace, the list read afresh on every tick and run so that a
    new installation gets its messages and an uninstalled one gets none.

    Each workspace's cadence keeps its caches (Slack time zones) while its token is unchanged.
    """

    def __init__(
        self, services: Services, engine: Engine, *, backoff: float = 0.5, only_set: bool = False
    ) -> None:
        self.services, self.engine, self.backoff = services, engine, backoff
        # `coach run` honours COACH_WORKSPACE; a server's scheduler serves every workspace,
        # whatever an operator left in .env for the command line.
        self.only_set = only_set
        self._cadences: dict[str, tuple[str | None, Cadence]] = {}

    def cadences(self) -> list[Cadence]:
        """The cadence of each workspace served now."""
        pick = workspaces_for if self.only_set else installed_workspaces
        served = pick(self.services.settings, self.engine)
        fresh = {w.id: self._cadence(w) for w in served}
        self._cadences = {w.id: (w.token, fresh[w.id]) for w in served}
        return list(fresh.values())

    def _cadence(self, workspace: Workspace) -> Cadence:
        known = self._cadences.get(workspace.id)
        if known is not None and known[0] == workspace.token:
            return known[1]
        client = (
            make_web_client(self.services.settings, workspace.token, resend=False)
            if workspace.token
            else None  # no token: only a dry run can plan for it
        )
        return Cadence(self.services, workspace.id, client, backoff=self.backoff)

    def run(self, job: Job, *, month: str | None = None) -> list[tuple[str, Run]]:
        """`Cadence.run` in each workspace, as (workspace id, run)."""
        return [(c.workspace_id, run) for c in self.cadences() for run in c.run(job, month=month)]

    def tick(self, now: datetime | None = None) -> list[Run]:
        """One scheduler tick in every workspace; one workspace failing doesn't stop the rest."""
        runs: list[Run] = []
        try:
            cadences = self.cadences()
        except Exception:  # e.g. the database is away: the next tick tries again
            log.exception("cadence: could not list the workspaces")
            return runs
        for cadence in cadences:
            runs.extend(cadence.tick(now))
        return runs
