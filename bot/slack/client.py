"""The one place a Slack Web API client is made: base URL from settings, retries switched on."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler, default_interval_calculator
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.settings import Settings

DEFAULT_MAX_RETRIES = 3
# The bot scopes manifest.yml asks for (a test keeps the two in step).
REQUIRED_SCOPES = (
    "commands",
    "chat:write",
    "im:write",
    "im:history",
    "channels:history",
    "users:read",
    "users:read.email",
    "users.profile:read",
    "files:write",
)


class AnyServerErrorRetryHandler(ServerErrorRetryHandler):
    """Retries every 5xx answer with backoff.

    slack_sdk's ServerErrorRetryHandler only retries 500 and 503; Slack's edge also answers
    502 and 504 when a backend is briefly away, and those are just as worth another try.
    """

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and 500 <= response.status_code < 600


def make_web_client(
    settings: Settings,
    token: str | None = None,
    *,
    max_retries: int = DEFAULT_MAX_RETRIES,
    interval_calculator: RetryIntervalCalculator = default_interval_calculator,
    resend: bool = True,
) -> WebClient:
    """A WebClient for `settings.slack_api_url`, with the bot token unless `token` is given.

    It waits out a 429 for as long as its Retry-After says, and retries 5xx answers and
    dropped connections after a backoff from `interval_calculator` (slack_sdk's exponential
    backoff with jitter by default; tests pass a tiny fixed interval). slack_sdk counts
    attempts per request across all handlers, so `max_retries` caps the retries of one call
    whatever mix of failures it meets.

    With `resend=False` only 429s are retried (Slack did nothing with those): a message posted
    just before a 5xx or a dropped connection must not be posted again blindly, so the caller
    checks and retries itself (the cadence's sender does).
    """
    handlers: list[RetryHandler] = [
        # Retry-After decides this handler's wait; the interval calculator is not used.
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
    ]
    if resend:
        handlers += [
            ConnectionErrorRetryHandler(
                max_retry_count=max_retries, interval_calculator=interval_calculator
            ),
            AnyServerErrorRetryHandler(
                max_retry_count=max_retries, interval_calculator=interval_calculator
            ),
        ]
    return WebClient(
        token=token if token is not None else settings.slack_bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=handlers,
    )
