"""Extension points run after timelines change (exception checks, live updates, billing).

Later parts register here instead of being imported by the timeline code, so the heart of the
product does not depend on its consumers. Hooks run inside the caller's transaction.

A hook registered ``deferrable=False`` (the live updates: cheap, published after commit) always
runs with the change. The others may be left for a transaction right after the commit, so
that someone watching a page sees the change without waiting for them
(``shipments.services.timeline_hooks_deferred``, which records them durably first).
"""

from __future__ import annotations

from collections.abc import Callable

TimelineChanged = Callable[[list[int]], None]
ReferencesAdded = Callable[[list[str]], None]

_timeline_changed: list[tuple[TimelineChanged, bool]] = []
_references_added: list[ReferencesAdded] = []


def on_timeline_changed(hook: TimelineChanged, *, deferrable: bool = True) -> TimelineChanged:
    if all(known is not hook for known, _ in _timeline_changed):
        _timeline_changed.append((hook, deferrable))
    return hook


def timeline_changed(shipment_ids: list[int], *, which: str = "all") -> None:
    """Run the hooks: ``which`` is "all", "immediate" (deferrable=False only) or "deferred"
    (the deferrable ones only)."""
    for hook, deferrable in list(_timeline_changed):
        if which == "all" or (which == "deferred") == deferrable:
            hook(shipment_ids)


def on_references_added(hook: ReferencesAdded) -> ReferencesAdded:
    """E.g. the holding list applies events that were waiting for these references."""
    if hook not in _references_added:
        _references_added.append(hook)
    return hook


def references_added(values: list[str]) -> None:
    for hook in list(_references_added):
        hook(values)
