"""Prometheus metrics of the Akku-stream detector, served by the worker on RIPOSTE_METRICS_PORT."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class DetectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.lag = Gauge(
            "riposte_detector_lag_seconds",
            "Wall clock minus the timestamp of the newest Akku event processed",
            registry=self.registry,
        )
        self.events = Counter(
            "riposte_detector_events", "Akku events processed by the detector", registry=self.registry
        )
        self.firings = Counter(
            "riposte_detector_firings",
            "Detector rule firings, by rule and by what starting the alert run answered",
            ["rule", "status"],
            registry=self.registry,
        )
        self.malformed = Counter("riposte_detector_malformed", "Unreadable event lines skipped", registry=self.registry)


DETECTOR = DetectorMetrics()


def serve_metrics(host: str, port: int) -> None:
    """The worker's metrics endpoint (GET /metrics on host:port), in a daemon thread."""
    start_http_server(port, addr=host, registry=DETECTOR.registry)
