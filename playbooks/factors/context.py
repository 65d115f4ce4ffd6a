"""Context factors: Akku's adaptive-MFA verdict (docs/rules.md, IAM signals), the account's privilege, the SIEM's severity."""

from __future__ import annotations

from playbooks.factors.base import Inputs
from riposte.models.common import Severity
from riposte.models.evidence import RiskContext
from riposte.models.playbook import FactorParams
from riposte.models.runs import Factor

# Share of the factor's weight each risk_context dimension gives (their sum is capped at 1).
RISK_LEVEL = {"high": 0.5, "medium": 0.25}
IP_REPUTATION = {"malicious": 0.3, "suspicious": 0.15}
GEO_ANOMALY = 0.1
UNUSUAL_TIME = 0.1
UNKNOWN_DEVICE = 0.1
SEVERITY = {Severity.LOW: 0.0, Severity.MEDIUM: 1 / 3, Severity.HIGH: 2 / 3, Severity.CRITICAL: 1.0}


def risk_shares(risk: RiskContext) -> list[tuple[str, float]]:
    """Each dimension of the IAM-signal rules' (docs/rules.md) risk_context that counts, in words, with its share."""
    shares = []
    if risk.risk_level in RISK_LEVEL:
        shares.append((f"risk {risk.risk_level}", RISK_LEVEL[risk.risk_level]))
    if risk.ip_reputation in IP_REPUTATION:
        shares.append((f"IP {risk.ip_reputation}", IP_REPUTATION[risk.ip_reputation]))
    if risk.geo_anomaly:
        shares.append(("far from usual places", GEO_ANOMALY))
    if risk.unusual_time:
        shares.append(("unusual hour", UNUSUAL_TIME))
    if risk.device_known is False:
        shares.append(("unknown device", UNKNOWN_DEVICE))
    return shares


def risk_context(params: FactorParams, inputs: Inputs) -> Factor | None:
    risk = inputs.evidence.worst_risk
    if risk is None:
        return None
    shares = risk_shares(risk)
    level = min(1.0, sum(share for _, share in shares))
    if level <= 0:
        return None
    detail = "Akku adaptive MFA: " + ", ".join(label for label, _ in shares)
    return Factor(name="risk_context", points=params.weight * level, detail=detail)


def privileged(params: FactorParams, inputs: Inputs) -> Factor | None:
    user = inputs.evidence.user
    if user is None or not user.privileged:
        return None
    roles = ", ".join(user.roles) or "privileged"
    return Factor(name="privileged", points=params.weight, detail=f"privileged account ({roles})")


def severity(params: FactorParams, inputs: Inputs) -> Factor | None:
    value = SEVERITY[inputs.finding.alert.severity]
    if value <= 0:
        return None
    return Factor(
        name="severity", points=params.weight * value, detail=f"SIEM severity {inputs.finding.alert.severity.value}"
    )
