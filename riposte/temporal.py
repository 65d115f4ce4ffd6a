"""The one way every part of Riposte reaches Temporal: `make_client()`."""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from riposte.settings import Settings


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The converter every client, worker and replayer uses: pydantic models in and out, and
    AES-GCM payload encryption when RIPOSTE_PAYLOAD_KEYS is set."""
    if settings is None or settings.riposte_payload_keys is None:
        return pydantic_data_converter
    from riposte.codec import EncryptionCodec, parse_keys

    codec = EncryptionCodec(parse_keys(settings.riposte_payload_keys.get_secret_value()))
    # failure messages and stack traces move into the encoded attributes, so the codec seals them too
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def tls_config(settings: Settings) -> TLSConfig | bool:
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        return TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    # Temporal Cloud with an API key needs TLS without client certificates.
    return settings.temporal_api_key is not None


async def make_client(settings: Settings, *, target_host: str | None = None) -> Client:
    """Connect to the configured Temporal (embedded dev server, cluster or Temporal Cloud)."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        target_host or settings.target_host,
        namespace=settings.temporal_namespace,
        api_key=api_key,
        tls=tls_config(settings),
        data_converter=data_converter(settings),
    )


def run_url(ui_url: str | None, namespace: str, workflow_id: str, run_id: str | None = None) -> str | None:
    """Link to a run in the Temporal UI (None when no UI is configured)."""
    if not ui_url:
        return None
    url = f"{ui_url.rstrip('/')}/namespaces/{quote(namespace)}/workflows/{quote(workflow_id, safe='')}"
    return f"{url}/{quote(run_id)}/history" if run_id else url
