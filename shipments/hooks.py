"""Extension points run after timelines change (exception checks, live updates, billing).

Later parts register here instead of being imported by the timeline code, so the heart of the
product does not depend on its consumers. Hooks run inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable

TimelineChanged = Callable[[list[int]], None]
ReferencesAdded = Callable[[list[str]], None]

_timeline_changed: list[TimelineChanged] = []
_references_added: list[ReferencesAdded] = []


def on_timeline_changed(hook: TimelineChanged) -> TimelineChanged:
    if hook not in _timeline_changed:
        _timeline_changed.append(hook)
    return hook


def timeline_changed(shipment_ids: list[int]) -> None:
    for hook in list(_timeline_changed):
        hook(shipment_ids)


def on_references_added(hook: ReferencesAdded) -> ReferencesAdded:
    """E.g. the holding list applies events that were waiting for these references."""
    if hook not in _references_added:
        _references_added.append(hook)
    return hook


def references_added(values: list[str]) -> None:
    for hook in list(_references_added):
        hook(values)
