"""Extension points run after timelines change (exception checks, live updates, billing).

Later parts register here instead of being imported by the timeline code, so the heart of the
product does not depend on its consumers. Hooks run inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable

TimelineChanged = Callable[[list[int]], None]

_timeline_changed: list[TimelineChanged] = []


def on_timeline_changed(hook: TimelineChanged) -> TimelineChanged:
    if hook not in _timeline_changed:
        _timeline_changed.append(hook)
    return hook


def timeline_changed(shipment_ids: list[int]) -> None:
    for hook in list(_timeline_changed):
        hook(shipment_ids)
