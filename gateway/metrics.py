"""Prometheus metrics of the gateway (GET /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter(
            "riposte_webhooks_received", "Webhook deliveries received", ["source"], registry=self.registry
        )
        self.answered = Counter(
            "riposte_webhooks_answered", "Webhook deliveries by outcome", ["source", "outcome"], registry=self.registry
        )
        self.start_latency = Histogram(
            "riposte_workflow_start_seconds", "Time for Temporal to accept a start", ["source"], registry=self.registry
        )
