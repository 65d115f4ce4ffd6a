"""The shipped detection rules (detections/) read as a SOC engineer pastes them, and the webhook
bodies each SIEM would build from one of their result rows.

A rule file opens with a `riposte:` header in the language's comment syntax (SPL: a ``` block;
KQL, ES|QL: `//` lines) that names the rule, the detection and playbook it should reach, the
webhook, and the fields its final projection outputs. The bodies follow
the SIEMs' own documentation (docs/siem/): Splunk's six keys with the first result row,
Sentinel's incident through the Logic App body in detections/sentinel/logic-app-body.json, and
Kibana's connector body rendered from detections/elastic/connector-body.mustache.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DETECTIONS = REPO / "detections"
LANGUAGES = {"splunk": "spl", "sentinel": "kql", "elastic": "esql"}
PROJECTION = {"spl": r"(?:table|fields)", "kql": r"project", "esql": r"KEEP"}


@dataclass(frozen=True)
class Rule:
    siem: str
    path: Path
    header: dict[str, Any]
    query: str

    @property
    def id(self) -> str:
        return f"{self.siem}/{self.path.name}"

    @property
    def outputs(self) -> list[str]:
        return list(self.header["outputs"])

    def projection(self) -> list[str]:
        """The fields of the query's last command, which must be its projection."""
        stages = re.split(r"\n\|", "\n" + self.query.strip())
        last = stages[-1].strip()
        match = re.fullmatch(PROJECTION[self.path.suffix[1:]] + r"\s+(.+)", last, re.DOTALL)
        assert match, f"{self.id}: the last command must be the projection, found {last[:60]!r}"
        return [name.split("=")[0].strip() for name in re.split(r"[,\s]+", match.group(1).strip()) if name]


def load_rule(siem: str, path: Path) -> Rule:
    text = path.read_text()
    if path.suffix == ".spl":
        assert text.startswith("```\n"), f"{path}: an SPL rule opens with a ``` comment holding its header"
        header_text, _, query = text[4:].partition("```\n")
    else:
        lines = text.splitlines()
        comments = []
        for line in lines:
            if not line.startswith("//"):
                break
            comments.append(line[3:] if line.startswith("// ") else line[2:])
        assert comments and comments[0] == "riposte:", f"{path}: the rule opens with a `// riposte:` header"
        block = [comments[0], *(c for c in _indented(comments[1:]))]
        header_text = "\n".join(block)
        query = "\n".join(line for line in lines[len(comments) :])
    header = yaml.safe_load(header_text)["riposte"]
    return Rule(siem, path, header, query)


def _indented(lines: list[str]) -> list[str]:
    block = []
    for line in lines:
        if not line.startswith("  "):
            break
        block.append(line)
    return block


def all_rules() -> list[Rule]:
    return [
        load_rule(siem, path)
        for siem, ext in LANGUAGES.items()
        for path in sorted((DETECTIONS / siem).glob(f"*.{ext}"))
    ]


# --- one result row, and what the gateway must make of it ------------------------------------

ACTORS = ["u_10001", "u_10002", "u_10003"]
IPS = ["203.0.113.10", "203.0.113.11"]
WHEN = "2026-11-24T09:14:03.127Z"
SAMPLE: dict[str, Any] = {
    "actor_ids": ACTORS,
    "actor_id": ACTORS[0],
    "source_ips": IPS,
    "source_ip": IPS[0],
    "_time": "1795511643",
    "TimeGenerated": WHEN,
    "accounts": 24,
    "failures": 96,
    "network": "internet",
    "severity": "high",
    "users": 4,
    "risk": 48,
    "multiplier": 1,
    "lockouts": 4,
    "max_failed_attempts": 7,
    "attempts": 12,
    "methods": ["sms_otp", "helpdesk"],
    "pushes": 9,
    "first_push": WHEN,
    "km": 6412.3,
    "kmh": 7694.8,
    "logins": 1,
    "first_login": WHEN,
    "target_id": ACTORS[1],
    "target_ids": [ACTORS[1]],
    "role": "security_admin",
    "first_assigned": WHEN,
    "hours": 8,
}


def row(rule: Rule) -> dict[str, Any]:
    missing = [f for f in rule.outputs if f not in SAMPLE]
    assert not missing, f"{rule.id}: give SAMPLE a value for {missing}"
    return {f: SAMPLE[f] for f in rule.outputs}


def expected_actors(rule: Rule) -> list[str]:
    if "actor_ids" in rule.outputs:
        return ACTORS
    assert "actor_id" in rule.outputs, f"{rule.id} names no person: output actor_ids or actor_id"
    return [ACTORS[0]]


def expected_ips(rule: Rule) -> list[str]:
    if "source_ips" in rule.outputs:
        return IPS
    return [IPS[0]] if "source_ip" in rule.outputs else []


# --- the bodies ------------------------------------------------------------------------------


def splunk_body(rule: Rule, *, multivalue: str = "joined") -> dict[str, Any]:
    """The webhook alert action: result values are strings; a multivalue field is `mvjoin`ed by the
    shipped rules (`joined`), or a list when a search leaves it multivalue (`list`)."""
    sid = f"scheduler__soc_svc__search__RMD5{uuid.uuid4().hex[:16]}_at_{int(time.time())}_1"

    def value(v: Any) -> Any:
        if isinstance(v, list):
            return ",".join(map(str, v)) if multivalue == "joined" else [str(x) for x in v]
        return str(v)

    return {
        "sid": sid,
        "search_name": rule.header["rule"],
        "app": "search",
        "owner": "soc_svc",
        "results_link": f"https://splunk.example.test:8000/app/search/@go?sid={sid}",
        "result": {f: value(v) for f, v in row(rule).items()},
    }


def sentinel_body(rule: Rule) -> dict[str, Any]:
    """The Logic App's HTTP body (detections/sentinel/logic-app-body.json) evaluated against the
    incident trigger of an alert with the rule's custom details and entity mappings."""
    values = row(rule)
    details = rule.header.get("custom_details") or {}
    entities_spec = rule.header.get("entities") or {}
    for column in [*details.values(), *(c for spec in entities_spec.values() for c in spec.values())]:
        assert column in rule.outputs, f"{rule.id}: custom details and entities can only map output columns ({column})"

    def detail(v: Any) -> str:  # a custom detail holds strings; an array column arrives as its JSON text
        return json.dumps(v) if isinstance(v, list) else str(v)

    entities = []
    for kind, spec in entities_spec.items():
        if kind == "Account":
            name = str(values[spec["Name"]])
            entities.append({"kind": "Account", "properties": {"accountName": name, "friendlyName": name}})
        elif kind == "Ip":
            address = str(values[spec["Address"]])
            entities.append({"kind": "Ip", "properties": {"address": address, "friendlyName": address}})
        else:
            raise AssertionError(f"{rule.id}: no sample for entity kind {kind}")
    incident = (
        f"/subscriptions/0000/resourceGroups/rg-soc/providers/Microsoft.SecurityInsights/Incidents/{uuid.uuid4()}"
    )
    trigger = {
        "object": {
            "id": incident,
            "properties": {
                "title": rule.header["rule"],
                "severity": rule.header["severity"],
                "incidentUrl": "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/x",
                "relatedEntities": entities,
                "Alerts": [
                    {
                        "properties": {
                            "alertDisplayName": rule.header["rule"],
                            "additionalData": {
                                "Custom Details": json.dumps({k: [detail(values[c])] for k, c in details.items()})
                            },
                        }
                    }
                ],
            },
        }
    }
    template = json.loads((DETECTIONS / "sentinel" / "logic-app-body.json").read_text())
    return {key: _logic_app(expression, trigger) for key, expression in template.items()}


def _logic_app(expression: str, trigger: dict[str, Any]) -> Any:
    """`"@{triggerBody()?...}"` interpolates text; `"@triggerBody()?..."` keeps the value's type."""
    interpolated = expression.startswith("@{")
    path = re.findall(r"\?\['([^']+)'\]", expression)
    value: Any = trigger
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return ("" if value is None else str(value)) if interpolated else value


def elastic_body(rule: Rule) -> bytes:
    """Kibana's connector body: detections/elastic/connector-body.mustache rendered for one ES|QL alert
    (each row of an aggregating query is an alert document holding the row's columns)."""
    doc = {
        **row(rule),
        "@timestamp": WHEN,
        "kibana.alert.uuid": str(uuid.uuid4()),
        "kibana.alert.rule.name": rule.header["rule"],
        "kibana.alert.severity": rule.header["severity"],
    }
    context = {
        "context": {
            "rule": {
                "id": str(uuid.uuid4()),
                "rule_id": rule.path.stem,
                "name": rule.header["rule"],
                "severity": rule.header["severity"],
            },
            "results_link": "https://kibana.example.test/app/security/alerts",
            "alerts": [doc],
        }
    }
    return render_kibana((DETECTIONS / "elastic" / "connector-body.mustache").read_text(), context).encode()


def render_kibana(template: str, variables: dict[str, Any]) -> str:
    """Kibana's variable tags in a webhook body: `{{x}}` escaped for a JSON string, `{{{x}}}` raw,
    an object renders as its JSON and an array's `asJSON` as JSON (its plain form joins with commas)."""

    def resolve(path: str) -> Any:
        value: Any = variables
        for part in path.split("."):
            if part == "asJSON" and isinstance(value, list):
                return json.dumps(value)
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, dict):
            return json.dumps(value)
        if isinstance(value, list):
            return ",".join(text(v) for v in value)
        return str(value)

    def tag(match: re.Match[str]) -> str:
        raw, escaped = match.group(1), match.group(2)
        if raw is not None:
            return text(resolve(raw.strip()))
        return json.dumps(text(resolve(escaped.strip())))[1:-1]

    rendered = re.sub(r"\{\{\{([^}]+)\}\}\}|\{\{([^}]+)\}\}", tag, template)
    assert "{{" not in rendered
    return rendered
