"""What tokens cost, and what a budget says about them: pure, no I/O.

- A `Usage` is one model reply's tokens as a runtime recorded them (core/usage_lines.py reads
  them out of Claude Code's transcripts and Codex's rollouts).
- `Price` is dollars per million tokens of each kind; `DEFAULT_PRICES` holds the current
  Claude and OpenAI models, and `prices:` in ttal.yaml adds to it or overrides it. A model
  with no price has its tokens counted and its cost unknown: never guessed.
- A budget (`limits.budget`) is tokens or dollars per task, per project per day and for
  the fleet per day. `level` says where a scope stands: ok, warn (80 %) or over (100 %).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

WARN_AT = 0.8  # the share of a budget at which the spawner and a person are told
USD, TOKENS = "usd", "tokens"
DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")  # claude-sonnet-4-5-20250929


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float
    cache_read: float = 0.0
    cache_write: float = 0.0


@dataclass(frozen=True)
class Usage:
    """One model reply's tokens. `input` excludes the cached part: cache reads and writes
    are counted (and priced) apart, as Anthropic reports them."""

    key: str  # the same reply seen twice (a transcript read again, a fork) counts once
    model: str
    at: float  # epoch seconds, when the runtime recorded it
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write


@dataclass
class Cost:
    """Tokens and dollars of a task, a stage or a day. `usd` covers the priced models only;
    `unpriced` counts the tokens of models with no price (their cost is unknown)."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    usd: float = 0.0
    unpriced: int = 0
    models: set[str] = field(default_factory=set)

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    @property
    def known(self) -> bool:
        """Whether `usd` is the whole cost."""
        return self.unpriced == 0

    def add(self, model: str, counts: tuple[int, int, int, int], price: Price | None) -> None:
        i, o, r, w = counts
        self.input, self.output = self.input + i, self.output + o
        self.cache_read, self.cache_write = self.cache_read + r, self.cache_write + w
        self.models.add(model)
        if price is None:
            self.unpriced += i + o + r + w
        else:
            self.usd += dollars(price, counts)

    def as_dict(self) -> dict[str, object]:
        return {"tokens": self.tokens, "input": self.input, "output": self.output,
                "cache_read": self.cache_read, "cache_write": self.cache_write,
                "usd": round(self.usd, 6) if self.known else None,
                "usd_known_part": round(self.usd, 6), "unpriced_tokens": self.unpriced,
                "models": sorted(self.models)}  # fmt: skip

    def label(self) -> str:
        """`$1.23`, `$1.23+?` when some models have no price, `-` for nothing used."""
        if not self.tokens:
            return "-"
        if not self.usd and self.unpriced:
            return f"{short_tokens(self.tokens)} tok, $?"
        return f"${self.usd:.2f}" + ("" if self.known else "+?")


def dollars(price: Price, counts: tuple[int, int, int, int]) -> float:
    i, o, r, w = counts
    return (i * price.input + o * price.output + r * price.cache_read
            + w * price.cache_write) / 1_000_000  # fmt: skip


def model_key(model: str) -> str:
    """A model id as the price table names it: lower case, without a date suffix."""
    return DATE_SUFFIX.sub("", model.strip().lower())


def price_of(model: str, table: dict[str, Price]) -> Price | None:
    """The exact model (or its undated id); never a neighbour's price."""
    return table.get(model.strip().lower()) or table.get(model_key(model))


def short_tokens(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k"
    return str(int(n))


# ---- budgets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    """A budget or an approval: tokens or US dollars."""

    value: float
    unit: str  # USD or TOKENS

    def show(self) -> str:
        return f"${self.value:.2f}" if self.unit == USD else f"{short_tokens(self.value)} tokens"


@dataclass(frozen=True)
class Budget:
    """`limits.budget`: each scope's amount, or None for no limit."""

    task: Amount | None = None
    project_day: Amount | None = None
    fleet_day: Amount | None = None

    @property
    def any(self) -> bool:
        return any((self.task, self.project_day, self.fleet_day))


def parse_amount(text: str) -> Amount:
    """`$5`, `$0.50`, `5usd` (dollars); `2000000`, `500k`, `2M`, `2M tokens` (tokens).
    Raises ValueError with what was wrong."""
    raw = str(text).strip().lower().replace("_", "").replace(",", "")
    money = raw.startswith("$") or raw.endswith("usd")
    raw = raw.removeprefix("$").removesuffix("usd").removesuffix("tokens").strip()
    scale = {"k": 1e3, "m": 1e6, "b": 1e9}.get(raw[-1:], 1.0) if raw else 1.0
    number = raw[:-1] if scale != 1.0 else raw
    try:
        value = float(number) * scale
    except ValueError:
        raise ValueError(f"{text!r} is not an amount") from None
    if not value > 0 or value > 1e15:
        raise ValueError(f"{text!r} must be a positive amount")
    return Amount(value, USD if money else TOKENS)


def level(spent: float, allowed: float) -> str:
    """ok, warn (at 80 %) or over (at 100 %) of `allowed`."""
    if spent >= allowed:
        return "over"
    return "warn" if spent >= WARN_AT * allowed else "ok"


def spent_in(cost: Cost, unit: str) -> float:
    return cost.usd if unit == USD else float(cost.tokens)
