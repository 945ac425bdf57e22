"""Parsing ttal.yaml: the `pipelines:` section, checked against the declared agents."""

from __future__ import annotations

from typing import Any

from ttal.config.model import Agent
from ttal.config.parse_checks import TAG_RE, ParserBase
from ttal.core.pipeline import GATES, Pipeline, Stage


class PipelineParser(ParserBase):
    """The `pipelines:` section."""

    def pipelines(self, raw: Any, agents: dict[str, Agent]) -> dict[str, Pipeline]:
        data = self.mapping(raw, "pipelines")
        if not data:
            return {"default": default_pipeline(agents)}
        out = {name: self.pipeline(name, body, agents) for name, body in data.items()}
        self.check_tags_unique(out)
        defaults = [p.name for p in out.values() if not p.match_tags]
        if len(defaults) > 1:
            raise self.fail(
                f"pipelines.{defaults[1]}.match_tags",
                f"pipelines {defaults} all have no match_tags, so a plain task matches several",
                "give all but one pipeline match_tags",
            )
        return out

    def pipeline(self, name: str, body: Any, agents: dict[str, Agent]) -> Pipeline:
        key = f"pipelines.{name}"
        self.name(name, key)
        data = self.mapping(body, key)
        self.unknown_keys(data, {"match_tags", "stages", "description"}, key)
        match = data.get("match_tags") or []
        if not isinstance(match, list) or not all(
            isinstance(t, str) and TAG_RE.match(t) for t in match
        ):
            raise self.fail(f"{key}.match_tags", "expected a list of tag names", "e.g. [feature]")
        stages_raw = data.get("stages")
        if not isinstance(stages_raw, list) or not stages_raw:
            raise self.fail(
                f"{key}.stages", "expected a non-empty list of stages", "see `ttal init`"
            )
        stages = tuple(
            self.stage(f"{key}.stages[{i}]", s, agents) for i, s in enumerate(stages_raw)
        )
        if stages[-1].kind != "merge" or any(s.kind == "merge" for s in stages[:-1]):
            raise self.fail(f"{key}.stages", "the last stage, and only it, must be kind: merge", "")
        return Pipeline(name, tuple(match), stages)

    def stage(self, key: str, body: Any, agents: dict[str, Agent]) -> Stage:
        data = self.mapping(body, key)
        allowed = {"name", "kind", "tag", "gate", "agent", "assign", "reviewer", "review_tag",
                   "approve_tag"}  # fmt: skip
        self.unknown_keys(data, allowed | {"commits"}, key)
        name = self.string(data.get("name"), f"{key}.name")
        if not TAG_RE.match(name):
            raise self.fail(f"{key}.name", f"{name!r} is not tag-safe", "use letters, digits and _")
        kind = self.string(data.get("kind"), f"{key}.kind", "merge" if name == "merge" else "work")
        if kind not in ("work", "merge"):
            raise self.fail(f"{key}.kind", f"unknown kind {kind!r}", "use work or merge")
        gate = self.string(data.get("gate"), f"{key}.gate", "review" if kind == "work" else "auto")
        if gate not in GATES:
            raise self.fail(f"{key}.gate", f"unknown gate {gate!r}", f"use one of {GATES}")
        tag = self.tag(data.get("tag"), f"{key}.tag", "merged" if kind == "merge" else "")
        role = self.assign_role(data.get("assign"), f"{key}.assign", agents, kind)
        agent = self.role_agent(
            data.get("agent"), f"{key}.agent", agents, "worker", kind == "work" and not role
        )
        if role and agent:
            raise self.fail(key, "has both agent: and assign:", "a stage is a worker's or a role's")
        reviewer = review_tag = approve_tag = ""
        if gate == "review":
            if kind == "merge":
                raise self.fail(
                    f"{key}.gate", "a merge stage cannot have a review gate", "use auto or human"
                )
            reviewer = self.role_agent(
                data.get("reviewer"), f"{key}.reviewer", agents, "reviewer", True
            )
            review_tag = self.tag(data.get("review_tag"), f"{key}.review_tag", "")
            approve_tag = self.tag(data.get("approve_tag"), f"{key}.approve_tag", "")
        commits = data.get("commits", kind == "work" and not role)
        if not isinstance(commits, bool):
            raise self.fail(f"{key}.commits", f"expected true or false, got {commits!r}", "")
        return Stage(name, kind, tag, gate, agent, reviewer, review_tag, approve_tag, commits, role)

    def assign_role(self, value: Any, key: str, agents: dict[str, Agent], kind: str) -> str:
        if value is None:
            return ""
        role = self.string(value, key)
        if kind != "work":
            raise self.fail(key, "only a work stage can be assigned to a role", "remove it")
        holders = [a.name for a in agents.values() if a.role == role]
        if not holders or not all(agents[h].persistent for h in holders):
            raise self.fail(
                key,
                f"no persistent agent has role {role!r}",
                f"declare one under agents: with role: {role} (not worker or reviewer)",
            )
        return role

    def tag(self, value: Any, key: str, default: str) -> str:
        tag = self.string(value, key, default or None)
        if not TAG_RE.match(tag):
            raise self.fail(
                key, f"{tag!r} is not a valid tag", "letters, digits and _ only (no '-')"
            )
        return tag

    def role_agent(
        self, value: Any, key: str, agents: dict[str, Agent], role: str, need: bool
    ) -> str:
        if value is None and not need:
            return ""
        name = self.string(value, key)
        if name not in agents:
            raise self.fail(
                key, f"no agent named {name!r}", f"declare it under agents: with role: {role}"
            )
        if agents[name].role != role:
            raise self.fail(
                key, f"agent {name!r} has role {agents[name].role!r}", f"use a {role} agent"
            )
        return name

    def check_tags_unique(self, pipelines: dict[str, Pipeline]) -> None:
        # Stage tags may be shared (so `task +merged list` spans pipelines); a match tag
        # picks exactly one pipeline, so it may appear nowhere else.
        stage_tags = {t for p in pipelines.values() for t in p.tags}
        owner: dict[str, str] = {}
        for p in pipelines.values():
            for tag in p.match_tags:
                if tag in owner or tag in stage_tags:
                    other = owner.get(tag, "a stage tag")
                    raise self.fail(
                        f"pipelines.{p.name}.match_tags",
                        f"tag {tag!r} is also used by {other}",
                        "a match tag must select one pipeline and not be a stage tag",
                    )
                owner[tag] = f"pipeline {p.name!r}"
            dup = [t for t in p.tags if p.tags.count(t) > 1]
            if dup:
                raise self.fail(
                    f"pipelines.{p.name}", f"tag {dup[0]!r} is used twice", "rename one"
                )


def default_pipeline(agents: dict[str, Agent]) -> Pipeline:
    worker = next((a.name for a in agents.values() if a.role == "worker"), "")
    reviewer = next((a.name for a in agents.values() if a.role == "reviewer"), "")
    implement = Stage("implement", "work", "coded", "review", worker, reviewer, "reviewing", "lgtm")
    return Pipeline("default", (), (implement, Stage("merge", "merge", "merged", "auto")))
