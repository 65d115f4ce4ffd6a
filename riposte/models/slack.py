"""What a Slack button carries: written by the message builder, read by the gateway.

The value is compact JSON with one-letter keys (`w`, `r`, `o`), as it always was, so the
buttons of messages posted by older versions still decide.
"""

from __future__ import annotations

import json

from pydantic import ConfigDict, Field

from riposte.models.common import Model

ACTION_PREFIX = "riposte_decide_"  # action_id of every decision button
UNDO_PREFIX = "riposte_undo_"  # action_id of the Undo and Keep locked buttons (value: r = "undo-<n>")
VALUE_LIMIT = 2000  # Slack's limit on a button value


class ButtonValue(Model):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    workflow_id: str = Field(alias="w", min_length=1, max_length=512)
    request_id: str = Field(alias="r", min_length=1, max_length=128)
    option_id: str = Field(alias="o", min_length=1, max_length=64)

    def pack(self) -> str:
        return json.dumps(self.model_dump(by_alias=True), separators=(",", ":"))[:VALUE_LIMIT]

    @classmethod
    def unpack(cls, value: str) -> ButtonValue:
        """Raises ValueError (pydantic's ValidationError is one) on anything but a well-formed value."""
        return cls.model_validate_json(value)
