"""The monotonic-tag rules the Taskwarrior hooks enforce. Stdlib only: the hooks import
this module on every `task modify`, so it must start fast (see bench/).

Rules come from a small JSON file that ttal writes next to the hooks, so the hook never
parses YAML: {"pipelines": [{"name", "match_tags", "tags", "approve_tags"}]}.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the hook ~5 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

RULES_FILE = "ttal-rules.json"


class _ScanContext:
    # Taskwarrior writes control characters in a description raw, not as \uXXXX: a strict
    # scanner failed on them (as a SystemError) and the hook refused `task add "a^Ab"`.
    strict = False
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict[str, str] = {}  # noqa: RUF012 - read by the C scanner, never mutated here


def loads(text: str) -> Any:
    """json.loads for the hooks without `import json`: json pulls in re and friends and
    costs the hook ~20 ms per `task modify`; the C scanner alone costs nothing."""
    try:
        import _json

        scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]
        value, _ = scan(text.strip(), 0)
        return value
    except (ImportError, StopIteration, SystemError):
        import json

        return json.loads(text, strict=False)


# UDAs that record a person's decision; an agent must never write them.
PERSON_ONLY_UDAS = ("ttal_approved",)


def _tags(task: Mapping[str, Any]) -> set[str]:
    tags = task.get("tags") or []
    return set(tags.split(",")) if isinstance(tags, str) else set(tags)


def pick_pipeline(tags: set[str], rules: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    pipelines: list[dict[str, Any]] = list(rules.get("pipelines", []))
    matched = [p for p in pipelines if set(p.get("match_tags", [])) & tags]
    if len(matched) > 1:
        names = ", ".join(p["name"] for p in matched)
        return None, f"its tags match several pipelines ({names})"
    if matched:
        return matched[0], ""
    default = [p for p in pipelines if not p.get("match_tags")]
    return (default[0], "") if default else (None, "")


def check_add(task: Mapping[str, Any], rules: Mapping[str, Any]) -> str:
    """Reason to reject a new task, or "" to accept it."""
    tags = _tags(task)
    _, problem = pick_pipeline(tags, rules)
    if problem:
        return f"task not added: {problem}"
    all_tags = {t for p in rules.get("pipelines", []) for t in p.get("tags", [])}
    early = sorted(tags & all_tags)
    if early:
        return f"task not added: +{early[0]} is a pipeline tag; only ttal adds it (`ttal go`)"
    return ""


def check_modify(
    old: Mapping[str, Any], new: Mapping[str, Any], rules: Mapping[str, Any], env: Mapping[str, str]
) -> str:
    """Reason to reject a modification, or "" to accept it."""
    before, after = _tags(old), _tags(new)
    ident = str(new.get("uuid", ""))[:8]
    all_tags = {t for p in rules.get("pipelines", []) for t in p.get("tags", [])}
    removed = sorted((before - after) & all_tags)
    if removed:
        return f"refused on task {ident}: pipeline tag +{removed[0]} is never removed"
    role = _role(env)
    for uda in PERSON_ONLY_UDAS:
        if old.get(uda) != new.get(uda) and role != "human":
            return f"refused on task {ident}: only a person may change {uda} (you are a {role})"
    if before & all_tags:
        was, _ = pick_pipeline(before, rules)
        now, _ = pick_pipeline(after, rules)
        if was and now and was["name"] != now["name"]:
            return (
                f"refused on task {ident}: it is in pipeline {was['name']}; "
                f"its tags may not move it to {now['name']} mid-flight"
            )
    added = (after - before) & all_tags
    if not added:
        return ""
    pipeline, problem = pick_pipeline(after, rules)
    if pipeline is None:
        return f"refused on task {ident}: {problem or 'no pipeline matches its tags'}"
    order: list[str] = list(pipeline["tags"])
    for tag in sorted(added, key=lambda t: order.index(t) if t in order else -1):
        if tag not in order:
            other = f"another pipeline than {pipeline['name']}"
            return f"refused on task {ident}: +{tag} belongs to {other}"
        missing = [t for t in order[: order.index(tag)] if t not in after]
        if missing:
            chain = " -> ".join(order)
            return f"refused on task {ident}: +{tag} needs +{missing[-1]} first (order: {chain})"
        if tag in pipeline.get("approve_tags", []):
            reason = _approval_problem(tag, str(new.get("uuid", "")), env)
            if reason:
                return f"refused on task {ident}: {reason}"
    return ""


def _approval_problem(tag: str, uuid: str, env: Mapping[str, str]) -> str:
    role = _role(env)
    if role != "reviewer":
        return f"+{tag} is added only by the review lead (`ttal review approve`); you are a {role}"
    if env.get("TTAL_TASK", "") != uuid:
        owner = env.get("TTAL_TASK", "")[:8] or "(none)"
        return f"+{tag}: this review lead belongs to task {owner}"
    return ""


def _role(env: Mapping[str, str]) -> str:
    """Same reading as ttal.adapters.identity: no TTAL_AGENT is a person; an agent without a known
    role counts as a manager."""
    if not env.get("TTAL_AGENT", "").strip():
        return "human"
    role = env.get("TTAL_ROLE", "").strip()
    return role if role in ("manager", "worker", "reviewer") else "manager"
