"""Settings, exactly as the README lists them (environment variables or `.env`).

Secrets are `SecretStr`: they print as '**********' and are read only by activities
and the gateway, never passed into a workflow.
"""

from __future__ import annotations

import getpass
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from riposte.urls import is_loopback, scheme_of, secure_or_loopback

# Values the embedded stack (riposte dev, tests) uses when nothing else is set.
DEV_TEMPORAL_PORT = 7233
DEV_UI_PORT = 8233
DEV_AKKU_PORT = 8081
DEV_SLACK_PORT = 8082
DEV_AKKU_API_KEY = "akku-dev-key"
DEV_SLACK_BOT_TOKEN = "xoxb-sim"  # noqa: S105 - the local simulator's, public by design
DEV_SLACK_SIGNING_SECRET = "riposte-simulator-signing-secret"  # noqa: S105 - simulator only
DEV_SLACK_APP_ID = "A0RIPOSTE"
DEV_SLACK_CHANNEL = "C0SECOPS"
DEV_SLACK_APPROVER = "U0ANALYST"
WEBHOOK_SOURCES = ("splunk", "sentinel", "elastic", "generic")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    temporal_address: str | None = Field(
        default=None, description="host:port of a Temporal frontend; unset = start the embedded dev server"
    )
    temporal_namespace: str = "default"
    temporal_task_queue: str = "riposte"
    temporal_api_key: SecretStr | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_ui_url: str | None = None

    akku_base_url: str = f"http://127.0.0.1:{DEV_AKKU_PORT}/api"
    akku_api_key: SecretStr = SecretStr(DEV_AKKU_API_KEY)

    slack_api_url: str = f"http://127.0.0.1:{DEV_SLACK_PORT}/api/"
    slack_bot_token: SecretStr = SecretStr(DEV_SLACK_BOT_TOKEN)
    slack_signing_secret: SecretStr = SecretStr(DEV_SLACK_SIGNING_SECRET)
    slack_app_id: str | None = DEV_SLACK_APP_ID
    slack_approval_channel: str = DEV_SLACK_CHANNEL
    slack_approver_ids: Annotated[list[str], NoDecode] = Field(default_factory=lambda: [DEV_SLACK_APPROVER])
    slack_approver_group: str | None = Field(
        default=None, description="Slack user group id whose members may also decide (usergroups.users.list)"
    )

    riposte_webhook_token: SecretStr | None = Field(
        default=None, description="bearer token(s) every webhook source may present; space/comma-separated to rotate"
    )
    riposte_webhook_token_splunk: SecretStr | None = Field(
        default=None, description="Splunk's own token(s), instead of RIPOSTE_WEBHOOK_TOKEN"
    )
    riposte_webhook_token_sentinel: SecretStr | None = Field(
        default=None, description="Sentinel's own token(s), instead of RIPOSTE_WEBHOOK_TOKEN"
    )
    riposte_webhook_token_elastic: SecretStr | None = Field(
        default=None, description="Elastic's own token(s), instead of RIPOSTE_WEBHOOK_TOKEN"
    )
    riposte_webhook_token_generic: SecretStr | None = Field(
        default=None, description="the generic endpoint's own token(s), instead of RIPOSTE_WEBHOOK_TOKEN"
    )
    riposte_webhook_secret: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    riposte_http_host: str = "127.0.0.1"
    riposte_http_port: int = Field(default=8080, ge=1, le=65535)
    riposte_playbooks_dir: Path = Path("playbooks")
    riposte_dry_run: bool = False
    riposte_state_dir: Path = Path(".state")
    riposte_payload_keys: SecretStr | None = Field(
        default=None,
        description="payload encryption: 'kid:base64(32 bytes)', comma-separated, newest first; unset = off",
    )
    riposte_pseudonym_key: SecretStr | None = Field(
        default=None,
        description="with payload encryption: the key (32+ characters) behind the pseudonyms that replace Akku "
        "actor ids in workflow ids and search attributes; keep it across payload-key rotations",
    )
    riposte_codec_tokens: SecretStr | None = Field(
        default=None, description="codec endpoint: 'operator:token', comma-separated (temporal CLI --codec-auth)"
    )
    riposte_operator_tokens: SecretStr | None = Field(
        default=None,
        description="on workers: operators who may decide from the CLI, 'name:token' comma-separated (rotation: "
        "list a name twice); unset = CLI decisions are refused",
    )
    riposte_operator_token: SecretStr | None = Field(
        default=None, description="on an operator's shell: their own 'name:token' for `riposte approve` / `deny`"
    )
    riposte_codec_jwks_url: str | None = Field(
        default=None, description="codec endpoint: JWKS of the identity provider behind the Temporal UI's login"
    )
    riposte_codec_audience: str | None = Field(default=None, description="codec endpoint: the tokens' audience")
    riposte_codec_issuer: str | None = Field(
        default=None, description="codec endpoint: the tokens' issuer (`iss`), checked on every token"
    )
    riposte_codec_allowed: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="codec endpoint: emails or subjects allowed to see decoded payloads"
    )
    riposte_codec_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="codec endpoint: browser origins allowed (CORS); default the Temporal UI"
    )
    riposte_sources_file: Path | None = Field(
        default=None, description="YAML overriding the gateway's per-source settings (config/sources.yaml)"
    )
    riposte_protected_actors: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Akku ids never acted on automatically, on top of each playbook's own list (case-insensitive)",
    )
    riposte_detect: Literal["stream", "poll", "off"] = Field(
        default="off", description="detection from Akku's event stream: stream, poll (once a minute) or off"
    )
    # --- the Akku-stream detector's knobs (detect/) ---
    riposte_detect_poll_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="polling interval (poll mode, and while the stream is down)"
    )
    riposte_detect_lateness_seconds: float = Field(
        default=120.0,
        ge=0,
        le=3600,
        description="every read starts this much before the newest event seen, for events written late",
    )
    riposte_detect_max_keys: int = Field(
        default=50_000, ge=100, le=10_000_000, description="per rule: IPs or accounts with state; oldest evicted"
    )
    riposte_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="the worker's Prometheus metrics port (on RIPOSTE_HTTP_HOST); unset = off",
    )

    @field_validator("slack_approver_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("riposte_protected_actors", mode="before")
    @classmethod
    def _split_actors(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [str(part).strip().lower() for part in value if str(part).strip()]
        return value

    @field_validator("riposte_codec_allowed", "riposte_codec_origins", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("riposte_operator_tokens", "riposte_operator_token")
    @classmethod
    def _operators(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from riposte.operators import OperatorTokenError, parse_operators

            try:
                parse_operators(value.get_secret_value())
            except OperatorTokenError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("riposte_codec_tokens")
    @classmethod
    def _codec_tokens(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from riposte.codec import CodecKeyError, parse_tokens

            try:
                parse_tokens(value.get_secret_value())
            except CodecKeyError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("riposte_pseudonym_key")
    @classmethod
    def _pseudonym_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -base64 32`)")
        return value

    @model_validator(mode="after")
    def _pseudonyms_with_encryption(self) -> Settings:
        if self.riposte_payload_keys is not None and self.riposte_pseudonym_key is None:
            raise ValueError(
                "RIPOSTE_PSEUDONYM_KEY is required with RIPOSTE_PAYLOAD_KEYS: workflow ids and search "
                "attributes are not encrypted, so actor ids there are replaced by keyed pseudonyms"
            )
        return self

    @model_validator(mode="after")
    def _secrets_go_only_where_they_belong(self) -> Settings:
        """A known (simulator) secret only with the local simulator; a real one never over plain HTTP."""
        problems = [
            *_endpoint_problems(
                "AKKU_BASE_URL", self.akku_base_url, {"AKKU_API_KEY": (self.akku_api_key, DEV_AKKU_API_KEY)}
            ),
            *_endpoint_problems(
                "SLACK_API_URL",
                self.slack_api_url,
                {
                    "SLACK_BOT_TOKEN": (self.slack_bot_token, DEV_SLACK_BOT_TOKEN),
                    "SLACK_SIGNING_SECRET": (self.slack_signing_secret, DEV_SLACK_SIGNING_SECRET),
                },
            ),
        ]
        if self.riposte_codec_jwks_url:
            if not secure_or_loopback(self.riposte_codec_jwks_url):
                problems.append(
                    "RIPOSTE_CODEC_JWKS_URL must be https (plain http only to a loopback address): the keys "
                    "fetched from it decide who may read decrypted payloads"
                )
            for name, value in (
                ("RIPOSTE_CODEC_AUDIENCE", self.riposte_codec_audience),
                ("RIPOSTE_CODEC_ISSUER", self.riposte_codec_issuer),
            ):
                if not value:
                    problems.append(
                        f"{name} is required with RIPOSTE_CODEC_JWKS_URL: without it a token the identity "
                        "provider issued for another application (or another issuer using the same keys) is accepted"
                    )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def webhook_tokens(self, source: str) -> list[str]:
        """The tokens a source may present: its own setting, else RIPOSTE_WEBHOOK_TOKEN; several allow rotation."""
        own: SecretStr | None = getattr(self, f"riposte_webhook_token_{source}", None)
        chosen = own or self.riposte_webhook_token
        if chosen is None:
            return []
        return [part for part in chosen.get_secret_value().replace(",", " ").split() if part]

    @property
    def webhook_auth_configured(self) -> bool:
        """Some webhook source can authenticate (a token for it, or a signing secret)."""
        return bool(self.riposte_webhook_secret) or any(self.webhook_tokens(s) for s in WEBHOOK_SOURCES)

    @field_validator("riposte_webhook_secret", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        """Several space- or comma-separated secrets allow rotation (Standard Webhooks)."""
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("riposte_webhook_secret")
    @classmethod
    def _whsec(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            if not secret.get_secret_value().startswith("whsec_"):
                raise ValueError("each secret must start with 'whsec_' (Standard Webhooks format)")
        return value

    @field_validator("riposte_payload_keys")
    @classmethod
    def _keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            from riposte.codec import CodecKeyError, parse_keys

            try:
                parse_keys(value.get_secret_value())
            except CodecKeyError as exc:
                raise ValueError(str(exc)) from None
            return value
        return None

    @field_validator("temporal_address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("expected host:port, e.g. my-ns.a1b2c.tmprl.cloud:7233")
        return value

    @property
    def embedded(self) -> bool:
        """True when Riposte runs its own dev server (TEMPORAL_ADDRESS unset)."""
        return self.temporal_address is None

    @property
    def target_host(self) -> str:
        return self.temporal_address or f"127.0.0.1:{DEV_TEMPORAL_PORT}"

    @property
    def ui_url(self) -> str | None:
        if self.temporal_ui_url:
            return self.temporal_ui_url.rstrip("/")
        return f"http://127.0.0.1:{DEV_UI_PORT}" if self.embedded else None

    def with_generated_secrets(self) -> Settings:
        """The embedded stack's webhook credentials: generated when unset, printed by `riposte dev`."""
        update: dict[str, object] = {}
        if self.riposte_webhook_token is None:
            update["riposte_webhook_token"] = SecretStr(secrets.token_urlsafe(24))
        if not self.riposte_webhook_secret:
            update["riposte_webhook_secret"] = [SecretStr("whsec_" + secrets.token_urlsafe(24))]
        if self.riposte_operator_tokens is None and self.riposte_operator_token is None:
            mine = SecretStr(f"{getpass.getuser()}:{secrets.token_urlsafe(24)}")  # the person running the stack
            update["riposte_operator_tokens"] = mine
            update["riposte_operator_token"] = mine
        return self.model_copy(update=update) if update else self


def _endpoint_problems(url_name: str, url: str, sent: dict[str, tuple[SecretStr, str]]) -> list[str]:
    """What is wrong with sending these secrets to `url` (names only, never a value)."""
    scheme = scheme_of(url)
    if scheme not in ("http", "https") or not url.split("://", 1)[-1].strip("/"):
        return [f"{url_name} must be an http(s) URL"]
    problems = []
    if not is_loopback(url):
        if scheme == "http":
            problems.append(
                f"{url_name} is plain http to a non-loopback host: {' and '.join(sent)} would cross the "
                "network in clear; use https"
            )
        for name, (secret, known) in sent.items():
            if secret.get_secret_value() == known:
                problems.append(
                    f"{name} is the local simulator's built-in value, but {url_name} is not the local "
                    f"simulator; set the real {name}"
                )
    return problems


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; a bad variable raises SettingsError naming it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"][:1]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            if name:
                problems.append(f"{name}: {message}")
            else:  # a rule across settings: each line names its variables
                problems += message.splitlines()
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
