"""Settings: the README's settings, secrets hidden, bad values named."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from riposte.settings import (
    DEV_AKKU_API_KEY,
    DEV_SLACK_BOT_TOKEN,
    DEV_SLACK_SIGNING_SECRET,
    SettingsError,
    load_settings,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(str(tmp_path))  # no stray .env
    for name in (
        "TEMPORAL_ADDRESS",
        "RIPOSTE_HTTP_PORT",
        "SLACK_APPROVER_IDS",
        "RIPOSTE_WEBHOOK_SECRET",
        "RIPOSTE_WEBHOOK_TOKEN",
        "AKKU_API_KEY",
        "AKKU_BASE_URL",
        "SLACK_API_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "RIPOSTE_DRY_RUN",
        "RIPOSTE_CODEC_JWKS_URL",
        "RIPOSTE_CODEC_AUDIENCE",
        "RIPOSTE_CODEC_ISSUER",
        "RIPOSTE_WEBHOOK_TOKEN_SPLUNK",
        "RIPOSTE_WEBHOOK_TOKEN_SENTINEL",
        "RIPOSTE_WEBHOOK_TOKEN_ELASTIC",
        "RIPOSTE_WEBHOOK_TOKEN_GENERIC",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_embedded_stack() -> None:
    settings = load_settings()
    assert settings.embedded
    assert settings.target_host == "127.0.0.1:7233"
    assert settings.temporal_namespace == "default"
    assert settings.temporal_task_queue == "riposte"
    assert settings.ui_url == "http://127.0.0.1:8233"
    assert settings.riposte_http_host == "127.0.0.1"
    assert settings.riposte_http_port == 8080
    assert not settings.riposte_dry_run


def test_remote_cluster_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "my-ns.a1b2c.tmprl.cloud:7233")
    monkeypatch.setenv("TEMPORAL_API_KEY", "k-123")
    settings = load_settings()
    assert not settings.embedded
    assert settings.target_host == "my-ns.a1b2c.tmprl.cloud:7233"
    assert settings.ui_url is None
    assert "k-123" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RIPOSTE_HTTP_PORT", "eighty"),
        ("RIPOSTE_HTTP_PORT", "70000"),
        ("TEMPORAL_ADDRESS", "no-port-here"),
        ("RIPOSTE_WEBHOOK_SECRET", "not-a-whsec"),
        ("RIPOSTE_DRY_RUN", "maybe"),
    ],
)
def test_bad_value_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert name in str(caught.value)
    assert value not in str(caught.value) or name != "RIPOSTE_WEBHOOK_SECRET"


def test_lists_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_APPROVER_IDS", "U1, U2,,U3")
    monkeypatch.setenv("RIPOSTE_WEBHOOK_SECRET", "whsec_old whsec_new")
    monkeypatch.setenv("AKKU_API_KEY", "super-secret-key")
    settings = load_settings()
    assert settings.slack_approver_ids == ["U1", "U2", "U3"]
    assert [s.get_secret_value() for s in settings.riposte_webhook_secret] == ["whsec_old", "whsec_new"]
    assert "super-secret-key" not in repr(settings) + str(settings.model_dump())


def test_generated_webhook_credentials_only_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    generated = load_settings().with_generated_secrets()
    assert generated.riposte_webhook_token is not None
    assert generated.riposte_webhook_secret[0].get_secret_value().startswith("whsec_")
    monkeypatch.setenv("RIPOSTE_WEBHOOK_TOKEN", "fixed")
    kept = load_settings().with_generated_secrets()
    assert kept.riposte_webhook_token is not None
    assert kept.riposte_webhook_token.get_secret_value() == "fixed"


REAL_SLACK = {"SLACK_BOT_TOKEN": "xoxb-real-4410", "SLACK_SIGNING_SECRET": "real-signing-secret-77"}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        # a simulator's built-in secret while the matching URL is not the local simulator
        (
            {"SLACK_API_URL": "https://slack.com/api/", "SLACK_BOT_TOKEN": REAL_SLACK["SLACK_BOT_TOKEN"]},
            "SLACK_SIGNING_SECRET",
        ),
        (
            {"SLACK_API_URL": "https://slack.com/api/", "SLACK_SIGNING_SECRET": REAL_SLACK["SLACK_SIGNING_SECRET"]},
            "SLACK_BOT_TOKEN",
        ),
        ({"AKKU_BASE_URL": "https://akku.example.com/api"}, "AKKU_API_KEY"),
        ({"AKKU_BASE_URL": "https://akku.example.com/api", "AKKU_API_KEY": DEV_AKKU_API_KEY}, "AKKU_API_KEY"),
        # a real secret over plain HTTP to a host that is not this machine
        ({"AKKU_BASE_URL": "http://akku.example.com/api", "AKKU_API_KEY": "real-akku-key-1"}, "AKKU_BASE_URL"),
        ({"AKKU_BASE_URL": "http://10.0.0.5:8081/api", "AKKU_API_KEY": "real-akku-key-1"}, "AKKU_BASE_URL"),
        ({"SLACK_API_URL": "http://slack.example.com/api/", **REAL_SLACK}, "SLACK_API_URL"),
        ({"AKKU_BASE_URL": "ftp://akku.example.com/api", "AKKU_API_KEY": "real-akku-key-1"}, "AKKU_BASE_URL"),
        # the codec endpoint's identity provider
        (
            {"RIPOSTE_CODEC_JWKS_URL": "https://idp.example.com/jwks", "RIPOSTE_CODEC_ISSUER": "https://idp"},
            "RIPOSTE_CODEC_AUDIENCE",
        ),
        (
            {"RIPOSTE_CODEC_JWKS_URL": "https://idp.example.com/jwks", "RIPOSTE_CODEC_AUDIENCE": "ui"},
            "RIPOSTE_CODEC_ISSUER",
        ),
        (
            {
                "RIPOSTE_CODEC_JWKS_URL": "http://idp.example.com/jwks",
                "RIPOSTE_CODEC_AUDIENCE": "ui",
                "RIPOSTE_CODEC_ISSUER": "https://idp",
            },
            "RIPOSTE_CODEC_JWKS_URL",
        ),
    ],
)
def test_start_up_refuses_a_secret_headed_for_the_wrong_place(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert named in message
    for secret in (
        "real-akku-key-1",
        *REAL_SLACK.values(),
        DEV_AKKU_API_KEY,
        DEV_SLACK_BOT_TOKEN,
        DEV_SLACK_SIGNING_SECRET,
    ):
        assert secret not in message


@pytest.mark.parametrize(
    "env",
    [
        {},  # the embedded stack's simulators
        {"AKKU_BASE_URL": "http://127.0.0.1:9/api", "SLACK_API_URL": "http://localhost:9/api/"},  # a test rig
        {"AKKU_BASE_URL": "http://[::1]:9/api", "AKKU_API_KEY": "real-akku-key-1", **REAL_SLACK},  # a sidecar
        {"AKKU_BASE_URL": "https://akku.example.com/api", "AKKU_API_KEY": "real-akku-key-1"},
        {"SLACK_API_URL": "https://slack.com/api/", **REAL_SLACK},
        {
            "RIPOSTE_CODEC_JWKS_URL": "http://127.0.0.1:9/jwks",
            "RIPOSTE_CODEC_AUDIENCE": "ui",
            "RIPOSTE_CODEC_ISSUER": "https://idp",
        },
    ],
)
def test_loopback_and_real_secrets_over_https_are_accepted(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    load_settings()


@pytest.mark.parametrize("command", ["worker", "gateway"])
def test_the_worker_and_the_gateway_exit_2_naming_the_variable(monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    from cli.main import app

    monkeypatch.setenv("SLACK_API_URL", "https://slack.com/api/")
    monkeypatch.setenv("RIPOSTE_WEBHOOK_TOKEN", "fixed")
    result = CliRunner().invoke(app, [command])
    assert result.exit_code == 2
    assert "SLACK_SIGNING_SECRET" in result.output and "SLACK_BOT_TOKEN" in result.output


def test_each_source_can_have_its_own_rotating_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIPOSTE_WEBHOOK_TOKEN", "shared-1")
    monkeypatch.setenv("RIPOSTE_WEBHOOK_TOKEN_SPLUNK", "splunk-new, splunk-old")
    settings = load_settings()
    assert settings.webhook_tokens("splunk") == ["splunk-new", "splunk-old"]
    assert settings.webhook_tokens("sentinel") == ["shared-1"]
    assert "splunk-new" not in repr(settings)
