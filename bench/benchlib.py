"""What the benchmarks under bench/ share: where results go, peak RSS, percentiles."""

from __future__ import annotations

import os
import platform
import re
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"


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
