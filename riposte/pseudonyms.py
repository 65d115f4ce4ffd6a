"""How a person appears where Temporal does not encrypt: workflow ids and search attributes.

Payload encryption (riposte/codec.py) seals inputs, results, signals and failures, but a
workflow id and the search attributes are indexed in clear. With encryption on, the Akku
actor id there is replaced by a keyed pseudonym (HMAC-SHA256 under RIPOSTE_PSEUDONYM_KEY):
the same person always maps to the same investigation, and an operator who holds the key
(the CLI does) can still find a person's runs; a reader of the cluster's database cannot
recover the id. With encryption off the actor id is used as is.
"""

from __future__ import annotations

import hashlib
import hmac

from riposte.settings import Settings

INVESTIGATION_PREFIX = "investigation-"
PSEUDONYM_PREFIX = "p_"


class RunNames:
    def __init__(self, key: bytes | None) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> RunNames:
        if settings.riposte_payload_keys is None or settings.riposte_pseudonym_key is None:
            return cls(None)
        return cls(settings.riposte_pseudonym_key.get_secret_value().encode())

    def actor_ref(self, actor_id: str) -> str:
        """The actor as workflow ids and the RiposteActor search attribute show it."""
        if self._key is None:
            return actor_id
        digest = hmac.new(self._key, actor_id.encode(), hashlib.sha256).hexdigest()
        return f"{PSEUDONYM_PREFIX}{digest[:24]}"

    def investigation_id(self, actor_id: str) -> str:
        return f"{INVESTIGATION_PREFIX}{self.actor_ref(actor_id)}"
