"""Per-source gateway configuration (config/sources.yaml, or RIPOSTE_SOURCES_FILE)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from riposte.models.alert import IdentityKind
from riposte.models.common import DetectionType, Severity
from riposte.settings import Settings

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "config" / "sources.yaml"


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RateLimit(Strict):
    per_second: float = Field(default=50, gt=0)
    burst: int = Field(default=200, ge=1)


class DetectionRule(Strict):
    pattern: str
    detection: DetectionType


class Identity(Strict):
    field: str | None = None
    kind: IdentityKind = IdentityKind.AKKU_ID
    map: dict[str, str] = Field(default_factory=dict, description="SIEM identity -> Akku actor id")


class ActorField(Strict):
    """One field of a SIEM record that names people; it may hold several (a list, or text with commas)."""

    field: str
    kind: IdentityKind = IdentityKind.AKKU_ID
    pattern: str | None = Field(default=None, description="a regex the value must match to be read from this field")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    def accepts(self, value: str) -> bool:
        return self.pattern is None or re.search(self.pattern, value) is not None


class Dimensions(Strict):
    account: list[str] = Field(default_factory=lambda: ["UserPrincipalName", "AccountUpn", "Account"])
    ip: list[str] = Field(default_factory=lambda: ["IPAddress", "IpAddress", "SourceIP"])


class SourceConfig(Strict):
    identity: Identity = Field(default_factory=Identity)
    actors: list[ActorField] = Field(
        default_factory=list, description="fields naming people; the first one a record has is read"
    )
    ips: list[str] = Field(default_factory=list, description="fields holding source IPs; every one present is read")
    ip_field: str | None = Field(default=None, description="one more IP field, after `ips` (older configurations)")
    account_name: IdentityKind = Field(
        default=IdentityKind.AKKU_ID, description="Sentinel Account entities with a name and no UPN suffix"
    )
    dimensions: Dimensions = Field(default_factory=Dimensions)
    severity: dict[str, Severity] = Field(default_factory=dict)
    detections: list[DetectionRule] = Field(default_factory=list)
    rate_limit: RateLimit | None = None

    def actor_fields(self, default: str | None = None) -> list[ActorField]:
        """`actors`, then `identity.field` (or `default`) read as `identity.kind`: older configurations keep working."""
        legacy = self.identity.field or default
        extra = [ActorField(field=legacy, kind=self.identity.kind)] if legacy else []
        return [*self.actors, *(f for f in extra if all(a.field != f.field for a in self.actors))]

    def ip_fields(self, default: str | None = None) -> list[str]:
        legacy = self.ip_field or default
        return list(dict.fromkeys([*self.ips, *([legacy] if legacy else [])]))


class Defaults(Strict):
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=4)
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    detections: list[DetectionRule] = Field(default_factory=list)


class GatewayConfig(Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)

    def source(self, name: str) -> SourceConfig:
        return self.sources.get(name) or SourceConfig()

    def rate(self, name: str) -> RateLimit:
        return self.source(name).rate_limit or self.defaults.rate_limit

    def detection(self, source: str, rule_name: str) -> DetectionType:
        for rule in [*self.source(source).detections, *self.defaults.detections]:
            if re.search(rule.pattern, rule_name, re.IGNORECASE):
                return rule.detection
        return DetectionType.UNKNOWN

    def severity(self, source: str, value: Any, default: Severity = Severity.MEDIUM) -> Severity:
        if value is None:
            return default
        mapping = self.source(source).severity
        return mapping.get(str(value)) or mapping.get(str(value).lower()) or default


def load_config(settings: Settings) -> GatewayConfig:
    path = settings.riposte_sources_file or DEFAULT_FILE
    data = yaml.safe_load(path.read_text()) or {}
    return GatewayConfig.model_validate(data)
