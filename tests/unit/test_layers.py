"""The layers hold, transitively (the house style's layering rule): each rule is checked by importing modules in a
fresh interpreter and looking at `sys.modules`, so an import through another module, a package
`__init__` or a lazy import at module level counts the same as a direct one.

1. Pure modules — every controller's decision code (a controller package minus its edges:
   main, handlers, settings, metrics), the decision vocabulary, the view, expectations,
   partitions, the CRD models, subjects and envelopes — never load nats, kubernetes_asyncio,
   httpx, aiohttp, prometheus_client or opentelemetry (nor asyncio), never load pydantic-settings
   or a settings module (the only code that builds settings from the environment), and never
   read the environment while they load. Statically, they import no `os`, `time` or `random`.
2. Services never import each other.
3. `raybus_common.kube` and `raybus_common.bus` never import `raybus_common.controller`.
4. Only the bus's NATS modules import nats; only the Kubernetes edge, the watcher and the
   actuator import kubernetes_asyncio (direct imports, by AST); of the libraries and services,
   only the Ray dashboard edge (`raybus_common.ray.dashboard`) imports httpx (others may name
   its types under `if TYPE_CHECKING:`).
5. No module imports another module's private (`_name`) name.

The checkers are plain functions; the last tests feed them a deliberately bad package to show
they catch what they claim to.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {p.name: p for p in sorted(ROOT.glob("services/*/raybus_*")) if (p / "__init__.py").exists()}
COMMON = ROOT / "libs" / "common" / "raybus_common"
SOURCES = [COMMON.parent, *(p.parent for p in SERVICES.values()), ROOT / "libs" / "testbed", ROOT / "cli"]
BANNED = ("nats", "kubernetes_asyncio", "httpx", "aiohttp", "prometheus_client", "opentelemetry")
# Pure code also needs no event loop and never the library that reads settings from the environment.
PURE_BANNED = (*BANNED, "asyncio", "pydantic_settings")
EDGES = {"main", "handlers", "settings", "metrics"}  # a controller's modules that may do I/O
CONTROLLERS = [name for name in SERVICES if name not in ("raybus_watcher", "raybus_actuator")]
PURE_COMMON = ["actions", "decision", "objects", "quantity", "kv", "scope", "errors", "backoff",
               "controller.config", "controller.view", "controller.expectations", "controller.partitions",
               "bus.subjects", "bus.envelopes", "bus.streams", "bus.config", "crds", "ray.address", "ray.jobs"]
NO_CLOCK_OR_ENV = ("os", "time", "random")  # static: what pure decision code never imports


def modules_of(package_dir: Path, package: str) -> list[str]:
    found = [package]
    for info in pkgutil.walk_packages([str(package_dir)], prefix=package + "."):
        found.append(info.name)
    return sorted(found)


def pure_modules() -> list[str]:
    out: list[str] = []
    for name in PURE_COMMON:
        full = f"raybus_common.{name}"
        path = COMMON.joinpath(*name.split("."))
        out += modules_of(path, full) if path.is_dir() else [full]
    for pkg in CONTROLLERS:
        out += [m for m in modules_of(SERVICES[pkg], pkg) if m.rsplit(".", 1)[-1] not in EDGES]
    return sorted(out)


# -- fresh-interpreter probe -------------------------------------------------------------------

PROBE = textwrap.dedent('''
    import collections.abc, json, os, sys
    roots = tuple(json.loads(sys.argv[1]))
    reads = []

    def note(key, bulk=False):
        frame, direct = sys._getframe(2), True
        while frame is not None:
            name = frame.f_code.co_filename
            if name.endswith(("/os.py", "/_collections_abc.py")):
                frame = frame.f_back  # os.getenv, Mapping.get/items: not a caller
                continue
            if name.startswith("<frozen importlib"):
                return  # a library reading the environment while it is imported: not ours
            if name.startswith(roots):
                # Ours when our code reads it, or has a library read it for us: the whole
                # environment (what pydantic-settings does) or a RAYBUS_ variable.
                if direct or bulk or str(key).startswith("RAYBUS_"):
                    reads.append(f"{key} at {name}:{frame.f_lineno}")
                return
            direct = False
            frame = frame.f_back

    class Guard(collections.abc.MutableMapping):
        def __init__(self, real): self.real = real
        def __getitem__(self, key): note(key); return self.real[key]
        def __iter__(self): note("*", True); return iter(self.real)
        def __len__(self): return len(self.real)
        def __setitem__(self, key, value): self.real[key] = value
        def __delitem__(self, key): del self.real[key]
        def copy(self): note("*", True); return dict(self.real)

    os.environ = Guard(os.environ)
    import importlib
    for name in sys.argv[2:]:
        importlib.import_module(name)
    print(json.dumps({"modules": sorted(sys.modules), "env": reads}))
''')


def probe(*modules: str, extra_path: Path | None = None) -> dict[str, list[str]]:
    """Import `modules` in a fresh interpreter; what it loaded, and environment reads from project code."""
    roots = [str(p) for p in SOURCES] + ([str(extra_path)] if extra_path else [])
    env_path = {"PYTHONPATH": str(extra_path)} if extra_path else {}
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(roots), *modules], check=False,
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", **env_path})
    if proc.returncode:
        raise AssertionError(f"importing {modules} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, list[str]] = json.loads(proc.stdout)
    return result


def loaded(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == r or m.startswith(r + ".") for r in roots)]


def probe_all(modules: list[str]) -> dict[str, dict[str, list[str]]]:
    with ThreadPoolExecutor(4) as pool:
        return dict(zip(modules, pool.map(probe, modules), strict=True))


def impurities(report: dict[str, list[str]]) -> list[str]:
    settings = [m for m in report["modules"] if m == "raybus_common.settings" or m.endswith(".settings")
                and m.split(".")[0] in SERVICES]
    return loaded(report["modules"], PURE_BANNED) + settings + [f"reads the environment: {r}" for r in report["env"]]


# -- static checks -----------------------------------------------------------------------------

def source_of(module: str, base: Path) -> Path:
    path = base.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an ImportFrom names (relative imports resolved against `module`)."""
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_names(path: Path, module: str) -> list[tuple[str, str | None, int]]:
    """(module, name or None, line) for every import statement of a file."""
    tree = ast.parse(path.read_text())
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(node, module, path.name == "__init__.py")
            out += [(target, a.name, node.lineno) for a in node.names]
    return out


def project_files() -> list[tuple[Path, str]]:
    """(file, module name) of every Python file of the packages, tests and benchmarks."""
    files: list[tuple[Path, str]] = []
    for base in SOURCES:
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("")
            if rel.parts[0].startswith("raybus_") and ".egg-info" not in str(path):
                files.append((path, ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)))
    for path in [*sorted((ROOT / "tests").rglob("*.py")), *sorted((ROOT / "bench").glob("*.py"))]:
        files.append((path, path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")))
    return files


def private_imports(files: list[tuple[Path, str]], project: tuple[str, ...]) -> list[str]:
    """`from other import _private` where `other` is a project module (not the importer itself)."""
    bad = []
    for path, module in files:
        for target, name, line in imported_names(path, module):
            if name and name.startswith("_") and not name.startswith("__") and target.startswith(project) \
                    and target != module:
                bad.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}: "
                           f"{name} from {target}")
    return bad


def direct_importers(files: list[tuple[Path, str]], lib: str) -> set[str]:
    return {module for path, module in files
            for target, _, _ in imported_names(path, module) if target == lib or target.startswith(lib + ".")}


def runtime_importers(files: list[tuple[Path, str]], lib: str) -> set[str]:
    """`direct_importers`, but an import under `if TYPE_CHECKING:` (for annotations) does not count."""
    found = set()
    for path, module in files:
        tree = ast.parse(path.read_text())
        blocks = [b for b in ast.walk(tree) if isinstance(b, ast.If)
                  and ast.unparse(b.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")]
        skipped = {id(n) for b in blocks for stmt in b.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if id(node) not in skipped and any(n == lib or n.startswith(lib + ".") for n in names):
                found.add(module)
    return found


# -- the rules ---------------------------------------------------------------------------------

PURE = pure_modules()


def test_the_pure_set_covers_every_controller_and_the_framework() -> None:
    assert len(CONTROLLERS) == 5
    for pkg in CONTROLLERS:
        assert f"{pkg}.reconcile" in PURE and f"{pkg}.config" in PURE
    assert {"raybus_common.controller.view", "raybus_common.controller.expectations",
            "raybus_common.controller.partitions", "raybus_common.actions"} <= set(PURE)


def test_pure_modules_load_no_io_no_settings_and_read_no_environment() -> None:
    offenders = {m: bad for m, report in probe_all(PURE).items() if (bad := impurities(report))}
    assert offenders == {}


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_clock_no_randomness_no_os(module: str) -> None:
    base = COMMON.parent if module.startswith("raybus_common") else SERVICES[module.split(".")[0]].parent
    path = source_of(module, base)
    found = {t for t, _, _ in imported_names(path, module)}
    assert {t for t in found if t.split(".")[0] in NO_CLOCK_OR_ENV} == set()


def test_services_never_import_each_other() -> None:
    with ThreadPoolExecutor(4) as pool:
        reports = dict(zip(SERVICES, pool.map(lambda item: probe(*modules_of(item[1], item[0])), SERVICES.items()),
                           strict=True))
    crossings = {pkg: loaded(r["modules"], tuple(p for p in SERVICES if p != pkg)) for pkg, r in reports.items()}
    assert {pkg: c for pkg, c in crossings.items() if c} == {}


def test_kube_and_bus_never_import_the_controller_framework() -> None:
    edge = modules_of(COMMON / "kube", "raybus_common.kube") + modules_of(COMMON / "bus", "raybus_common.bus")
    found = {m: loaded(r["modules"], ("raybus_common.controller",)) for m, r in probe_all(edge).items()}
    assert {m: c for m, c in found.items() if c} == {}


def test_nats_and_the_kubernetes_client_only_at_their_edges() -> None:
    files = project_files()
    packages = [(p, m) for p, m in files if m.startswith("raybus_")]
    assert direct_importers(packages, "nats") <= {"raybus_common.bus.nats", "raybus_common.bus.nats_kv",
                                                  "raybus_common.bus.follow"}
    assert {m for m in direct_importers(packages, "kubernetes_asyncio")
            if not m.startswith(("raybus_common.kube", "raybus_watcher", "raybus_actuator"))} == set()
    assert runtime_importers([(p, m) for p, m in packages if m.startswith(("raybus_common", *SERVICES))],
                             "httpx") <= {"raybus_common.ray.dashboard"}


def test_no_module_imports_a_private_name_of_another() -> None:
    assert private_imports(project_files(), ("raybus_", "tests", "bench")) == []


# -- the checkers catch what they claim --------------------------------------------------------

def bad_package(tmp: Path) -> Path:
    pkg = tmp / "raybus_badctl"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("import os\n_SECRET = os.environ.get('RAYBUS_X')\n\ndef _hidden() -> int:\n"
                                    "    return 1\n")
    (pkg / "deep.py").write_text("from raybus_common.bus.base import Bus\n")  # loads opentelemetry
    (pkg / "reconcile.py").write_text("from . import deep\nfrom .helpers import _hidden\n")
    return tmp


def test_the_probe_catches_a_transitive_impurity_and_an_environment_read(tmp_path: Path) -> None:
    base = bad_package(tmp_path)
    report = probe("raybus_badctl.reconcile", extra_path=base)
    found = impurities(report)
    assert any(m.startswith("opentelemetry") for m in found), found
    assert any("RAYBUS_X" in m and "helpers.py" in m for m in found), found


def test_the_runtime_import_check_lets_annotations_only_imports_through(tmp_path: Path) -> None:
    (tmp_path / "uses.py").write_text("from httpx import AsyncClient\n")
    (tmp_path / "names.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx\n")
    files = [(tmp_path / "uses.py", "pkg.uses"), (tmp_path / "names.py", "pkg.names")]
    assert (runtime_importers(files, "httpx"), direct_importers(files, "httpx")) == ({"pkg.uses"}, {"pkg.uses", "pkg.names"})


def test_the_static_checks_catch_private_imports_and_os(tmp_path: Path) -> None:
    base = bad_package(tmp_path)
    files = [(p, f"raybus_badctl.{p.stem}") for p in sorted((base / "raybus_badctl").glob("*.py"))]
    assert [b.split(": ", 1)[1] for b in private_imports(files, ("raybus_",))] == ["_hidden from raybus_badctl.helpers"]
    assert "os" in {t for t, _, _ in imported_names(base / "raybus_badctl" / "helpers.py", "raybus_badctl.helpers")}
