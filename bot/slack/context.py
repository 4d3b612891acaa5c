"""Who is acting, resolved once per request by the middleware and read by every listener."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Actor(BaseModel):
    """The person behind a Slack request, as the org chart knows them."""

    model_config = ConfigDict(frozen=True)

    person_id: int
    workspace_id: str
    email: str
    name: str
    role: str
    slack_user_id: str
    zone: str  # IANA time zone: the org chart's, else COACH_TIMEZONE; decides "this month"
