"""What the benchmarks under bench/ share: where results go, CPU seconds and peak RSS of a
process, percentiles, requests by user from the API server's audit log, the order of
alternating runs, and the rows and layout of a side-by-side section."""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
TICK = os.sysconf("SC_CLK_TCK")


def stop_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so the `finally` blocks stop the control plane, NATS and
    the services a benchmark started instead of leaving them running."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{datetime.now(UTC):%Y-%m-%d}")


def peak_rss_mib(pid: int | None) -> float:
    """VmHWM of a live process, in MiB (0 if it is gone)."""
    if pid is None:
        return 0.0
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    m = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else 0.0


def cpu_seconds(pid: int | None, *, children: bool = False) -> float:
    """utime + stime of a live process (0 if it is gone); with `children`, also the CPU of the
    children it has waited for (cutime + cstime: a process that starts short-lived workers)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return used / TICK


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def write_section(section: str) -> None:
    """Replace (or add) the section that starts with the same `## ` heading in docs/benchmarks.md."""
    heading = section.splitlines()[0]
    text = DOC.read_text() if DOC.exists() else (
        "# Benchmarks\n\nFigures from the scripts under `bench/`; each section says how it was produced.\n\n")
    parts = re.split(r"(?m)^(?=## )", text)
    kept = [p for p in parts if p.splitlines()[0] != heading]  # the same heading, not one it begins
    DOC.write_text("".join(kept).rstrip("\n") + "\n\n" + section)


def audit_counts(log: Path, user: str, until: float) -> dict[str, Any]:
    """The requests `user` made, from the API server's audit log (see `count_audit`)."""
    return count_audit(log.read_text().splitlines(), user, until)


def count_audit(lines: Iterable[str], user: str, until: float) -> dict[str, Any]:
    """The requests `user` made (audit events, one JSON a line, received before `until`, epoch s):
    in all, by verb and resource, by response code. Requests the API server only proxied to a
    Service or pod (the `proxy` subresource: KubeRay's Ray dashboard calls when it runs with
    `--use-kubernetes-proxy`) are counted apart, in `proxied` and `proxied_codes`: they are
    not Kubernetes API work, and their codes are the dashboard's."""
    verbs: Counter[str] = Counter()
    codes: Counter[int] = Counter()
    proxied: Counter[int] = Counter()
    total = 0
    for line in lines:
        ev = json.loads(line)
        if (ev.get("user") or {}).get("username") != user:
            continue
        if datetime.fromisoformat(ev["requestReceivedTimestamp"]).timestamp() > until:
            continue
        ref = ev.get("objectRef") or {}
        code = int((ev.get("responseStatus") or {}).get("code") or 0)
        if ref.get("subresource") == "proxy":
            proxied[code] += 1
            continue
        total += 1
        what = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        verbs[f"{ev.get('verb')} {what}"] += 1
        codes[code] += 1
    return {"requests": total, "by_verb": dict(verbs.most_common()), "codes": dict(codes),
            "proxied": sum(proxied.values()), "proxied_codes": dict(proxied)}


def alternating(kinds: Sequence[str], runs: int) -> list[tuple[int, str]]:
    """(run, kind) in the order to run them: every kind once per run, in the order given in
    even runs and reversed in odd ones, so neither always runs first on a warm machine."""
    return [(i, kind) for i in range(runs) for kind in (kinds if i % 2 == 0 else list(reversed(kinds)))]


Figure = Callable[[list[dict[str, Any]]], float]


def side_by_side(by: dict[str, list[dict[str, Any]]], rows: Sequence[tuple[str, str, Figure]]) -> list[str]:
    """Markdown rows `| name | KubeRay | Raybus | Raybus / KubeRay |`, one per (name, format,
    figure over one operator's runs); `—` where an operator has no runs (or, for the ratio,
    where KubeRay's figure is 0)."""
    out = []
    for name, fmt, figure in rows:
        k = figure(by["kuberay"]) if by.get("kuberay") else None
        r = figure(by["raybus"]) if by.get("raybus") else None
        ratio = f"{r / k:.2f}×" if k and r is not None else "—"
        out.append(f"| {name} | {fmt.format(k) if k is not None else '—'} | "
                   f"{fmt.format(r) if r is not None else '—'} | {ratio} |")
    return out


def comparison(heading: str, intro: str, rows: Sequence[str], plot: str, alt: str, columns: Sequence[str],
               runs: Sequence[str]) -> str:
    """A side-by-side section: the heading, what was run, the table of `side_by_side` rows, the
    plot, and a table of every run (`columns`, then one row a run)."""
    return "\n".join([
        heading, "", intro, "",
        "| | KubeRay | Raybus | Raybus / KubeRay |", "|---|---|---|---|", *rows, "",
        f"![{alt}]({plot})", "",
        "Each run, in the order run:", "",
        "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns), *runs, ""])


def median(results: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in results))
