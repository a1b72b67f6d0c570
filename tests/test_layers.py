"""The import graph points one way: the core (``chat``) imports nothing from the console
(``agents``) or the composition root (``causette``), the console nothing from the root, and no
module reaches into another's private names (``_name``), by import or by attribute."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"chat": set(), "agents": {"chat"}, "causette": {"chat", "agents"}}
PACKAGES = set(LAYERS)


def _modules() -> dict[str, ast.Module]:
    out = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = ast.parse(path.read_text(), str(path))
    return out


def _imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """(module imported from, names) of every import, lazy ones inside functions included."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_layers_point_down() -> None:
    wrong = []
    for module, tree in _modules().items():
        layer = module.split(".")[0]
        for imported, _ in _imports(tree):
            top = imported.split(".")[0]
            if top in PACKAGES and top != layer and top not in LAYERS[layer]:
                wrong.append(f"{module} imports {imported}")
    assert not wrong, wrong


def test_no_module_uses_a_private_name_of_another() -> None:
    wrong = []
    for module, tree in _modules().items():
        ours: set[str] = set()  # names this module took from another module of ours
        for imported, names in _imports(tree):
            if imported.split(".")[0] not in PACKAGES or imported == module:
                continue
            for name in names:
                if _private(name):
                    wrong.append(f"{module} imports {imported}.{name}")
                ours.add(name)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ours
                and _private(node.attr)
            ):
                wrong.append(f"{module} uses {node.value.id}.{node.attr}")
    assert not wrong, wrong


def test_the_check_sees_every_package() -> None:
    modules = _modules()
    assert {"chat.relay", "chat.store", "agents.routing", "causette.app"} <= set(modules)
    assert len(modules) > 50


# every table and the one module that writes it (docs/architecture.md)
OWNERS = {
    "spaces": "chat.spaces",
    "space_origins": "chat.spaces",
    "visitors": "chat.profiles",
    "conversations": "chat.store",
    "messages": "chat.store",  # and chat.writer, the store's batch writer
    "read_marks": "chat.receipts",
    "agents": "agents.accounts",
    "agent_spaces": "agents.accounts",
    "login_throttle": "agents.accounts",
    "teams": "agents.teams",
    "team_members": "agents.teams",
    "notes": "agents.annotation",
    "conversation_tags": "agents.annotation",
    "canned_responses": "agents.canned",
    "campaigns": "agents.campaigns.store",
    "campaign_versions": "agents.campaigns.store",
    "campaign_phases": "agents.campaigns.store",
    "exposures": "agents.campaigns.tracking",
    "goal_events": "agents.campaigns.tracking",
    "conversions": "agents.campaigns.tracking",
    "csat_ratings": "agents.csat",
    "email_outbox": "agents.mail.outbox",
    "review_tags": "agents.campaigns.reviews",
    "transcript_reviews": "agents.campaigns.reviews",
    "audit_entries": "chat.audit",
    "audit_heads": "chat.audit",
    "audit_gate": "chat.audit",
    "legal_holds": "chat.holds",
    "api_keys": "agents.apikeys",
    "events_outbox": "chat.outbox",  # each change's owner emits through it, in its transaction
    "webhook_endpoints": "agents.webhooks.endpoints",
    "webhook_deliveries": "agents.webhooks.deliveries",
}
# a module that writes on behalf of its owner: the batch writer, and the slow path of the
# store (retention, erasure)
HELPERS = {"chat.writer": "chat.store", "chat.transcripts": "chat.store"}


def _writes(tree: ast.Module) -> set[str]:
    """Tables this module inserts into, updates or deletes from (``t.insert()``,
    ``insert(t)`` of the dialects, ``UPDATE t`` / ``INSERT INTO t`` in raw SQL, a Keeper's
    ``conversation_columns``)."""
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("insert", "update", "delete")
            and isinstance(func.value, ast.Name)
            and func.value.id in OWNERS
        ):
            found.add(func.value.id)
        if isinstance(func, ast.Name) and func.id.endswith("insert") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Name) and arg.id in OWNERS:
                found.add(arg.id)
    for node in ast.walk(tree):  # a Keeper's conversation_columns: chat/keeper.py deletes them
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "conversation_columns" for t in node.targets
        ):
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.Name) and sub.id in OWNERS:
                    found.add(sub.id)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for table in OWNERS:
                if re.search(rf"\b(INSERT INTO|UPDATE|DELETE FROM)\s+{table}\b", node.value):
                    found.add(table)
    return found


def test_every_table_is_written_by_its_owner_only() -> None:
    wrong = []
    for module, tree in _modules().items():
        for table in _writes(tree):
            if HELPERS.get(module, module) != OWNERS[table]:
                wrong.append(f"{module} writes {table} (owner: {OWNERS[table]})")
    assert not wrong, wrong
