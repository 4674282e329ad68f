"""What a pure `reconcile(observed, *, now, settings)` returns: actions, status, requeue.

`actions` are the writes the actuator should make (see `raybus_common.actions`), in order;
`status` is the desired `.status` of the root object (None = leave it alone); `requeue_after`
asks for another reconcile after that many seconds even if nothing changes (None = only on
the next event). A `Decision` is data: the controller runtime turns it into `ActionEnvelope`s. Pure, like the
actions it holds.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .actions import Action


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    actions: tuple[Action, ...] = ()
    status: dict[str, Any] | None = None
    requeue_after: float | None = Field(None, ge=0)

    @property
    def is_noop(self) -> bool:
        return not self.actions and self.status is None and self.requeue_after is None


NOTHING = Decision()
