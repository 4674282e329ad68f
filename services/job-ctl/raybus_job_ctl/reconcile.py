"""The RayJob reconcile: observed world in, a `Decision` out. Pure: no I/O, no clock
(the caller passes `now`), no randomness.

Placeholder: it decides nothing yet. The real logic replaces the body, not the signature.
"""

from __future__ import annotations

from datetime import datetime

from raybus_common.controller.view import Observed
from raybus_common.decision import NOTHING, Decision

from .config import JobConfig


def reconcile(observed: Observed, *, now: datetime, settings: JobConfig) -> Decision:
    """The whole desired state of one RayJob from its observed snapshot."""
    return NOTHING
