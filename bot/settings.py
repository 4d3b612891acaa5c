"""Configuration, read once from the environment and an optional `.env` file."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.models import GapConfig
from analytics.workdays import parse_country
from bot.cadence.schedule import Rules

DEFAULT_WORKSPACE = "default"
OAUTH_SETTINGS = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_STATE_SECRET")


class ConfigError(Exception):
    """A setting a command needs is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    """Every setting coach reads. Names are the environment variables, case-insensitive."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    database_url: str = Field("sqlite:///coach.db", alias="DATABASE_URL")
    slack_bot_token: str | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(None, alias="SLACK_APP_TOKEN")
    # Multi-workspace mode: all three set instead of SLACK_BOT_TOKEN (see `multi_workspace`).
    slack_client_id: str | None = Field(None, alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = Field(None, alias="SLACK_CLIENT_SECRET")
    slack_state_secret: str | None = Field(None, alias="SLACK_STATE_SECRET")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    coach_timezone: str = Field("UTC", alias="COACH_TIMEZONE")
    coach_metrics_file: Path | None = Field(None, alias="COACH_METRICS_FILE")
    # A team's CRM mapping (stages, call outcomes, hygiene); None: the shipped defaults.
    coach_crm_mapping_file: Path | None = Field(None, alias="COACH_CRM_MAPPING_FILE")
    coach_workspace: str = Field(DEFAULT_WORKSPACE, alias="COACH_WORKSPACE")
    coach_window_months: int = Field(3, ge=1, le=24, alias="COACH_WINDOW_MONTHS")
    coach_flag_threshold: float = Field(0.8, gt=0.5, lt=1.0, alias="COACH_FLAG_THRESHOLD")
    # A flag needs the rep credibly at least this far (relative) behind the peers' typical value.
    coach_material_gap: float = Field(0.2, ge=0.0, lt=1.0, alias="COACH_MATERIAL_GAP")
    coach_max_focus: int = Field(2, ge=1, le=2, alias="COACH_MAX_FOCUS")
    # How many months after the current one a metrics file may give (quotas loaded ahead).
    coach_months_ahead: int = Field(0, ge=0, le=24, alias="COACH_MONTHS_AHEAD")
    coach_send_time: str = Field("09:00", alias="COACH_SEND_TIME")
    coach_day_one: Literal["first", "first-working-day"] = Field("first", alias="COACH_DAY_ONE")
    # Whose public holidays count for people the org chart gives no country (None: weekends only).
    coach_country: str | None = Field(None, alias="COACH_COUNTRY")
    # Working days of the month: a reminder to managers with planless reps, then the director.
    coach_reminder_day: int = Field(3, ge=2, le=15, alias="COACH_REMINDER_DAY")
    coach_escalation_day: int = Field(5, ge=3, le=20, alias="COACH_ESCALATION_DAY")
    # Minutes before a weekly 1:1 that the manager gets its prep.
    coach_one_on_one_lead: int = Field(30, ge=5, le=240, alias="COACH_ONE_ON_ONE_LEAD")
    coach_catch_up_hours: float = Field(12, gt=0, le=24, alias="COACH_CATCH_UP_HOURS")
    # Longer than any one Slack call may take with its retries, or a live send could be doubled.
    coach_claim_timeout: int = Field(600, ge=120, alias="COACH_CLAIM_TIMEOUT")
    coach_daily_channel: str | None = Field(None, alias="COACH_DAILY_CHANNEL")
    coach_send_rate: float = Field(4, ge=0, alias="COACH_SEND_RATE")
    coach_send_workers: int = Field(4, ge=1, le=32, alias="COACH_SEND_WORKERS")
    coach_tick_seconds: int = Field(300, ge=10, le=3600, alias="COACH_TICK_SECONDS")
    # HubSpot (`coach sync hubspot`): a private app's access token; the API's base URL for tests
    # and sandboxes. COACH_SYNC_TIME: when the daily CRM sync runs (COACH_TIMEZONE; unset: never).
    hubspot_access_token: str | None = Field(None, alias="HUBSPOT_ACCESS_TOKEN")
    hubspot_base_url: str = Field("https://api.hubapi.com", alias="HUBSPOT_BASE_URL")
    coach_sync_time: str | None = Field(None, alias="COACH_SYNC_TIME")
    # Salesforce (`coach sync salesforce`): an instance URL with an OAuth access token, or the
    # JWT bearer flow (username, connected app's consumer key, private key file; DOMAIN login,
    # test for a sandbox, or a My Domain such as acme.my). BASE_URL sends every call elsewhere
    # (tests). Checked when a sync is configured (bot.crm.salesforce), not here, so a bad
    # Salesforce value never stops the bot.
    salesforce_instance_url: str | None = Field(None, alias="SALESFORCE_INSTANCE_URL")
    salesforce_access_token: str | None = Field(None, alias="SALESFORCE_ACCESS_TOKEN")
    salesforce_username: str | None = Field(None, alias="SALESFORCE_USERNAME")
    salesforce_consumer_key: str | None = Field(None, alias="SALESFORCE_CONSUMER_KEY")
    salesforce_private_key_file: str | None = Field(None, alias="SALESFORCE_PRIVATE_KEY_FILE")
    salesforce_domain: str | None = Field(None, alias="SALESFORCE_DOMAIN")
    salesforce_api_version: str | None = Field(None, alias="SALESFORCE_API_VERSION")
    salesforce_base_url: str | None = Field(None, alias="SALESFORCE_BASE_URL")
    salesforce_max_api_share: str | None = Field(None, alias="SALESFORCE_MAX_API_SHARE")
    coach_log_format: Literal["text", "json"] = Field("text", alias="COACH_LOG_FORMAT")
    coach_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", alias="COACH_LOG_LEVEL"
    )

    @field_validator("coach_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return value

    @field_validator("coach_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        return None if value is None else parse_country(value)

    @field_validator("coach_send_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        try:
            parsed = time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day (HH:MM, e.g. 09:00)") from None
        return parsed.strftime("%H:%M")

    @field_validator("coach_sync_time")
    @classmethod
    def _sync_time(cls, value: str | None) -> str | None:
        return None if value is None else cls._clock_time(value)

    @field_validator("hubspot_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("slack_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        value = value.replace("postgres://", "postgresql://", 1)
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"{url.get_backend_name()!r} is not supported (sqlite or postgresql)")
        if url.drivername == "postgresql":
            # psycopg 3 is the driver we ship; a plain postgresql:// URL would ask for psycopg2.
            url = url.set(drivername="postgresql+psycopg")
            return url.render_as_string(hide_password=False)
        return value

    @field_validator("coach_metrics_file", "coach_crm_mapping_file")
    @classmethod
    def _existing_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _window_outlasts_tick(self) -> Settings:
        if self.coach_catch_up_hours * 3600 < self.coach_tick_seconds:
            raise ValueError(
                "COACH_CATCH_UP_HOURS: the catch-up window must be at least COACH_TICK_SECONDS "
                "long, or a tick could miss it"
            )
        return self

    @model_validator(mode="after")
    def _escalation_after_reminder(self) -> Settings:
        if self.coach_escalation_day <= self.coach_reminder_day:
            raise ValueError(
                "COACH_ESCALATION_DAY: the escalation must come on a later working day than the "
                "reminder (COACH_REMINDER_DAY)"
            )
        return self

    @model_validator(mode="after")
    def _one_install_mode(self) -> Settings:
        trio = [name for name in OAUTH_SETTINGS if getattr(self, name.lower())]
        if trio and len(trio) < len(OAUTH_SETTINGS):
            missing = ", ".join(n for n in OAUTH_SETTINGS if n not in trio)
            raise ValueError(
                f"{missing}: multi-workspace installs need SLACK_CLIENT_ID, SLACK_CLIENT_SECRET "
                "and SLACK_STATE_SECRET together"
            )
        if trio and self.coach_daily_channel:
            raise ValueError(
                "COACH_DAILY_CHANNEL: a channel id belongs to one workspace; in multi-workspace "
                "mode, unset it and set each workspace's channel from App Home (Workspace "
                "settings)"
            )
        if trio and self.slack_bot_token:
            raise ValueError(
                "SLACK_BOT_TOKEN: unset it in multi-workspace mode (SLACK_CLIENT_ID …): each "
                "workspace's token comes from its installation"
            )
        return self

    @property
    def multi_workspace(self) -> bool:
        """Installed into many workspaces by OAuth, rather than one by SLACK_BOT_TOKEN."""
        return self.slack_client_id is not None

    def workspace(self) -> str:
        """The workspace a command line's data command works on: COACH_WORKSPACE.

        In multi-workspace mode it is a Slack team id and must be given; one workspace's data
        must never land in another's by default.
        """
        if self.multi_workspace and "coach_workspace" not in self.model_fields_set:
            raise ConfigError(
                "COACH_WORKSPACE is not set: in multi-workspace mode, set it to the Slack team "
                "id (T…) this command is for; `coach workspaces` lists them"
            )
        return self.coach_workspace

    def gap_config(self) -> GapConfig:
        """The gap engine's settings: window, flag threshold, material gap, focus size."""
        return GapConfig(
            window_months=self.coach_window_months,
            flag_threshold=self.coach_flag_threshold,
            material_gap=self.coach_material_gap,
            max_focus=self.coach_max_focus,
        )

    def cadence_rules(self) -> Rules:
        """When cadence messages go out: local send time, day-one rule, catch-up window, the
        default country's working days."""
        return Rules(
            send_time=time.fromisoformat(self.coach_send_time),
            day_one=self.coach_day_one,
            catch_up=timedelta(hours=self.coach_catch_up_hours),
            country=self.coach_country,
            reminder_day=self.coach_reminder_day,
            escalation_day=self.coach_escalation_day,
        )

    def require(self, *names: str) -> None:
        """Raise ConfigError naming the first of `names` (env var names) that is unset.

        SLACK_BOT_TOKEN is satisfied by multi-workspace mode: tokens come from installations.
        """
        for name in names:
            if name == "SLACK_BOT_TOKEN" and self.multi_workspace:
                continue
            if not getattr(self, name.lower()):
                raise ConfigError(f"{name} is not set: a command you ran needs it")


def load_settings() -> Settings:
    """Read the settings, turning a validation failure into one ConfigError line."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule across settings names its variables itself
            raise ConfigError(message) from None
        field = str(error["loc"][0])
        alias = Settings.model_fields[field].alias if field in Settings.model_fields else field
        raise ConfigError(f"{alias or field.upper()}: {message}") from None
