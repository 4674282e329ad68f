"""What validation reports: a `Problem` names a field by its JSON path and says what is wrong,
in KubeRay's words where KubeRay has them. Also the paths the rules share. Pure data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One reason the cluster is invalid: a JSON path (`spec.workerGroupSpecs[1].maxReplicas`)
    and a message in KubeRay's wording where KubeRay has one."""

    field: str
    message: str


Problems = list[Problem]

HEAD = "spec.headGroupSpec"
HEAD_C0 = HEAD + ".template.spec.containers[0]"


def worker_path(index: int) -> str:
    return f"spec.workerGroupSpecs[{index}]"


def summary(problems: list[Problem] | tuple[Problem, ...]) -> str:
    """"<field>: <message>; ...": the text of the condition and of the Warning Event."""
    return "; ".join(f"{p.field}: {p.message}" for p in problems)
