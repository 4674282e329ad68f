"""Pod names, deterministic: Raybus's stand-in for the API server's `generateName`.

KubeRay creates pods with `generateName: <prefix>` and the API server appends five random
characters; a pure reconcile cannot, and a repeated decision must not create a second pod. So the
suffix is five characters of the same alphabet derived from the cluster's uid and spec hash (the
pass's `seed`), the group and a serial: the same inputs always give the same names, and a new
spec (Recreate) gives new ones. Pure.
"""

from __future__ import annotations

from raybus_common.objects import generated_suffix


def pod_names(prefix: str, seed: str, group: str, taken: set[str], count: int) -> list[str]:
    """`count` names `<prefix><suffix>` not in `taken` (which grows by them), the same ones every
    time for the same inputs: serial 0, 1, 2, … skipping names in use."""
    out: list[str] = []
    serial = 0
    while len(out) < count:
        name = prefix + generated_suffix(seed, group, serial)
        serial += 1
        if name not in taken:
            out.append(name)
            taken.add(name)
    return out


def head_prefix(cluster: str) -> str:
    return f"{cluster[:50].lower()}-head-"


def worker_prefix(cluster: str, group: str) -> str:
    return f"{(cluster + '-' + group)[:50].lower()}-worker-"
