"""The images: one Dockerfile per service (and the CLI's, for the chart's CRD hook), each built
from the repository root, on one pinned base, running as a non-root user. No Docker engine is
needed to check that."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))
DOCKERFILES = {name: ROOT / "services" / name / "Dockerfile" for name in SERVICES} | {"cli": ROOT / "cli" / "Dockerfile"}
PINNED = re.compile(r"python:\d+\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?")


def instructions(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and not line.startswith((" ", "\t")):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_every_service_has_a_dockerfile() -> None:
    assert SERVICES and all(path.is_file() for path in DOCKERFILES.values()), DOCKERFILES


def test_one_pinned_base() -> None:
    bases = {name: [rest for word, rest in instructions(path) if word == "FROM"] for name, path in DOCKERFILES.items()}
    assert all(len(b) == 1 and PINNED.fullmatch(b[0]) for b in bases.values()), bases
    assert len({b[0] for b in bases.values()}) == 1, f"the images should share one base: {bases}"


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_built_from_the_root_non_root_and_runs_its_command(name: str) -> None:
    steps = instructions(DOCKERFILES[name])
    for word, rest in steps:
        if word == "COPY":
            *sources, _ = rest.split()
            assert all((ROOT / s).exists() for s in sources if not s.startswith("--")), rest
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1].isdigit() and int(users[-1]) >= 1000, f"{name} runs as root"
    entry = [rest for word, rest in steps if word == "ENTRYPOINT"]
    assert entry and (f'"raybus-{name}"' in entry[-1] or name == "cli" and '"raybus"' in entry[-1]), entry
