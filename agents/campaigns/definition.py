"""What a campaign is made of, as the REST API takes it and the store keeps it: its arms,
holdout, targeting rules, goals and fatigue caps. Checked here, once; stored as JSON."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from agents.campaigns.assignment import HOLDOUT
from agents.campaigns.rules import parse_rules, url_matches

__all__ = ["Arm", "Caps", "Definition", "Goal", "goal_name"]

_NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, pattern=_NO_NUL)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Arm(_Part):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    weight: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = 1.0
    message: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=_NO_NUL),
    ]
    buttons: Annotated[
        list[
            Annotated[
                str,
                StringConstraints(
                    strip_whitespace=True, min_length=1, max_length=60, pattern=_NO_NUL
                ),
            ]
        ],
        Field(max_length=4),
    ] = Field(default_factory=list)
    sender: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=100, pattern=_NO_NUL)]
        | None
    ) = None

    @field_validator("weight", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("key")
    @classmethod
    def _not_holdout(cls, value: str) -> str:
        if value == HOLDOUT:
            raise ValueError("'holdout' is the holdout's key: give it a share with \"holdout\"")
        return value


class Goal(_Part):
    """One of: a ``Causette.track`` event, a URL reached, the visitor replied to the
    invitation, a conversation started, a CSAT rating of at least ``csat``."""

    event: (
        Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_NO_NUL)] | None
    ) = None
    url: (
        Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=_NO_NUL)] | None
    ) = None
    replied: Literal[True] | None = None
    conversation: Literal[True] | None = None
    csat: Annotated[int, Field(ge=1, le=5)] | None = None
    window_hours: Annotated[int, Field(ge=1, le=24 * 90)] = 72

    @model_validator(mode="after")
    def _one_kind(self) -> Goal:
        kinds = [
            k
            for k in ("event", "url", "replied", "conversation", "csat")
            if getattr(self, k) is not None
        ]
        if len(kinds) != 1:
            raise ValueError("a goal is one of event, url, replied, conversation or csat")
        if self.url is not None:
            url_matches(self.url, "")  # a pattern the matcher takes
        return self

    def as_json(self) -> dict[str, Any]:
        """The goal with its one kind and its window, nothing else."""
        return self.model_dump(mode="json", exclude_none=True)

    @property
    def kind(self) -> str:
        return next(
            k
            for k in ("event", "url", "replied", "conversation", "csat")
            if getattr(self, k) is not None
        )


def goal_name(goal: dict[str, Any]) -> str:
    """A goal as people read it: ``event signup``, ``url /thanks*``, ``replied`` ..."""
    for kind in ("event", "url", "csat"):
        if goal.get(kind) is not None:
            suffix = f" ≥ {goal[kind]}" if kind == "csat" else f" {goal[kind]}"
            return kind + suffix
    return "replied" if goal.get("replied") else "conversation"


class Caps(_Part):
    per_session: Annotated[int, Field(ge=1, le=1000)] | None = 1
    per_visitor: Annotated[int, Field(ge=1, le=1000)] | None = None
    per_day: Annotated[int, Field(ge=1, le=1000)] | None = None
    cooldown_hours: Annotated[float, Field(ge=0, le=24 * 365, allow_inf_nan=False)] = 24.0
    open_conversation: Literal["skip", "show"] = "skip"

    @field_validator("cooldown_hours", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Definition(_Part):
    """What is shown, to whom, and what counts as success."""

    arms: Annotated[list[Arm], Field(min_length=1, max_length=10)]
    holdout: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.0
    rules: dict[str, Any] = Field(default_factory=lambda: {"all": []})
    goal: Goal
    secondary_goals: Annotated[list[Goal], Field(max_length=5)] = Field(default_factory=list)
    caps: Caps = Field(default_factory=Caps)

    @field_validator("holdout", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> Any:
        return parse_rules(value)

    @model_validator(mode="after")
    def _distinct_arms(self) -> Definition:
        keys = [arm.key for arm in self.arms]
        if len(set(keys)) != len(keys):
            raise ValueError("arms: each arm has its own key")
        return self  # one arm and no holdout is a plain campaign: results show that arm alone

    def as_json(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        out["goal"] = self.goal.as_json()
        out["secondary_goals"] = [g.as_json() for g in self.secondary_goals]
        return out
