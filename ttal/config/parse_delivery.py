"""Parsing ttal.yaml's `delivery:` section: how a recipient's queued messages are typed in,
a bounded piece at a time (ttal.engine.mesh)."""

from __future__ import annotations

from typing import Any

from ttal.config.model import Delivery
from ttal.config.parse_checks import ParserBase

# (key, default, the smallest value that works, an example for the error's fix)
DELIVERY_KEYS = (
    ("max_messages", Delivery.max_messages, 1, "20"),
    # One message renders to at most ~4.5 KB (a bigger body goes to a file, with a preview).
    ("max_bytes", Delivery.max_bytes, 4096, "32768"),
)
MAX_PIECE_BYTES = 16 << 20  # a paste goes through one tmux buffer


class DeliveryParser(ParserBase):
    def delivery(self, raw: Any) -> Delivery:
        data = self.mapping(raw, "delivery")
        self.unknown_keys(data, {k for k, _, _, _ in DELIVERY_KEYS}, "delivery")
        values = {}
        for key, default, least, example in DELIVERY_KEYS:
            value = data.get(key, default)
            if (not isinstance(value, int) or isinstance(value, bool) or value < least
                    or value > MAX_PIECE_BYTES):  # fmt: skip
                raise self.fail(
                    f"delivery.{key}",
                    f"expected an integer from {least} to {MAX_PIECE_BYTES}, got {value!r}",
                    f"e.g. {example}",
                )
            values[key] = value
        return Delivery(**values)
