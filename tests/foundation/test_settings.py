"""Settings: interface.md's variables, secrets hidden, bad values named."""

from __future__ import annotations

import pytest

from riposte.settings import SettingsError, load_settings


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
        "RIPOSTE_DRY_RUN",
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
