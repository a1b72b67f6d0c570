"""Who is on the other end of a connection: a visitor of one space, or an agent of some."""

from __future__ import annotations

from dataclasses import dataclass

from chat.types import Role

__all__ = ["AgentPrincipal", "Principal", "VisitorPrincipal"]


@dataclass(frozen=True, slots=True)
class VisitorPrincipal:
    id: str
    space_id: str
    space_key: str
    name: str | None

    kind = "visitor"

    @property
    def channels(self) -> tuple[str, ...]:
        return (visitor_channel(self.id),)


@dataclass(frozen=True, slots=True)
class AgentPrincipal:
    id: str
    name: str
    email: str
    role: Role
    token_version: int
    spaces: dict[str, str]  # space id -> key

    kind = "agent"

    @property
    def channels(self) -> tuple[str, ...]:
        return (*(space_channel(s) for s in sorted(self.spaces)), agent_channel(self.id))


Principal = VisitorPrincipal | AgentPrincipal


def visitor_channel(visitor_id: str) -> str:
    return f"v:{visitor_id}"


def space_channel(space_id: str) -> str:
    return f"s:{space_id}"


def agent_channel(agent_id: str) -> str:
    """One agent's sockets on every node: control events such as "signed out"."""
    return f"a:{agent_id}"
