"""The Slack Web API client, built once per process from the settings (worker and gateway alike)."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from riposte.settings import Settings


def slack_client(settings: Settings) -> AsyncWebClient:
    """The bot's Web API client. Rate limits are not slept on here: Temporal's next retry waits them out."""
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url, timeout=15
    )
