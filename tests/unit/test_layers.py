"""Layering (STYLE.md §2): pure reconcile code imports no I/O, no clock, no randomness; the
Kubernetes client lives only at the watcher/actuator edge; nats only in the bus package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_RECONCILE = {"nats", "kubernetes_asyncio", "httpx", "aiohttp", "time", "random", "os", "asyncio",
                          "raybus_common.bus.nats", "raybus_common.kube", "raybus_common.runner"}
RECONCILE = sorted(ROOT.glob("services/*/raybus_*/reconcile*.py"))


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def hits(found: set[str], banned: set[str]) -> set[str]:
    return {n for n in found if any(n == b or n.startswith(b + ".") for b in banned)}


def test_there_are_reconcile_modules() -> None:
    assert len(RECONCILE) >= 5


@pytest.mark.parametrize("path", RECONCILE, ids=lambda p: p.parent.name)
def test_reconcile_is_pure(path: Path) -> None:
    assert not hits(imports(path), FORBIDDEN_IN_RECONCILE)


def test_kubernetes_client_only_at_the_edge() -> None:
    allowed = {"libs/common/raybus_common/kube", "services/watcher", "services/actuator", "libs/common/raybus_common/errors.py"}
    offenders = []
    for path in [*ROOT.glob("libs/common/**/*.py"), *ROOT.glob("services/**/*.py")]:
        rel = path.relative_to(ROOT).as_posix()
        if any(rel.startswith(a) for a in allowed):
            continue
        if hits(imports(path), {"kubernetes_asyncio"}):
            offenders.append(rel)
    assert not offenders


def test_nats_only_in_the_bus_package() -> None:
    offenders = [p.relative_to(ROOT).as_posix() for p in [*ROOT.glob("libs/common/**/*.py"), *ROOT.glob("services/**/*.py")]
                 if hits(imports(p), {"nats"}) and "raybus_common/bus/" not in p.as_posix()]
    assert not offenders


def test_the_check_catches_an_impure_import(tmp_path: Path) -> None:
    bad = tmp_path / "reconcile.py"
    bad.write_text("import time\nfrom kubernetes_asyncio import client\n")
    assert hits(imports(bad), FORBIDDEN_IN_RECONCILE) == {"time", "kubernetes_asyncio"}
