"""Parsing the cost keys of ttal.yaml: `prices:` (dollars per million tokens per model, over
the default table in ttal.core.prices) and `limits.budget` (docs/cost.md).

    prices:
      claude-sonnet-4-5: {input: 3, output: 15, cache_read: 0.3, cache_write: 3.75}
      my-local-model: {input: 0, output: 0}
    limits:
      budget:
        task: $5            # dollars: a task's sessions, all stages, ever
        project_day: 20M    # tokens: one project's sessions in a calendar day
        fleet_day: $100     # every session of ttal in a calendar day
"""

from __future__ import annotations

import math
from typing import Any

from ttal.config.parse_checks import ParserBase
from ttal.core.costs import Amount, Budget, Price, model_key, parse_amount
from ttal.core.prices import DEFAULT_PRICES

PRICE_KINDS = ("input", "output", "cache_read", "cache_write")
BUDGET_SCOPES = ("task", "project_day", "fleet_day")
MAX_PRICE = 1e6  # dollars per million tokens: beyond it, a typo


class CostParser(ParserBase):
    def prices(self, raw: Any) -> dict[str, Price]:
        table = dict(DEFAULT_PRICES)
        for model, body in self.mapping(raw, "prices").items():
            key = f"prices.{model}"
            if not model.strip():
                raise self.fail(key, "empty model name", "name the model as its runtime does")
            data = self.mapping(body, key)
            self.unknown_keys(data, set(PRICE_KINDS), key)
            for kind in ("input", "output"):
                if kind not in data:
                    raise self.fail(f"{key}.{kind}", "missing",
                                    "dollars per million tokens, e.g. input: 3")  # fmt: skip
            values = {k: self._price(data.get(k), f"{key}.{k}") for k in PRICE_KINDS}
            if "cache_read" not in data:
                values["cache_read"] = values["input"]
            if "cache_write" not in data:
                values["cache_write"] = values["input"]
            table[model_key(model)] = Price(**values)
        return table

    def _price(self, value: Any, key: str) -> float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and (not number or not 0 <= value <= MAX_PRICE
                                  or math.isnan(value)):  # fmt: skip
            raise self.fail(key, f"expected dollars per million tokens, got {value!r}",
                            "a number from 0, e.g. 3 or 0.3")  # fmt: skip
        return float(value or 0)

    def budget(self, raw: Any) -> Budget:
        data = self.mapping(raw, "limits.budget")
        self.unknown_keys(data, set(BUDGET_SCOPES), "limits.budget")
        return Budget(**{s: self._amount(data.get(s), f"limits.budget.{s}") for s in BUDGET_SCOPES})

    def _amount(self, value: Any, key: str) -> Amount | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(key, f"expected an amount, got {value!r}",
                            "dollars as $5, or tokens as 2000000, 500k or 2M")  # fmt: skip
        try:
            return parse_amount(str(value))
        except ValueError as err:
            raise self.fail(key, str(err), "dollars as $5, or tokens as 2000000, 500k or 2M"
                            ) from None  # fmt: skip
