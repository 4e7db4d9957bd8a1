"""Poll adapters: fetch pages from a partner's API for ``integrations.polling`` to store.

The registry is keyed by ``Integration.poll_adapter``: a new carrier API is one adapter
module (a class with ``fetch``) plus one line in ``ADAPTERS``.
"""

from __future__ import annotations

from integrations.polling.adapters.base import AdapterError, PollAdapter, PollBatch
from integrations.polling.adapters.dcsa import DcsaV2Adapter
from integrations.polling.adapters.simulated import SimulatedCarrierAdapter

ADAPTERS: dict[str, type[PollAdapter]] = {
    "dcsa_v2": DcsaV2Adapter,
    "simulated": SimulatedCarrierAdapter,
}


def adapter_for(name: str) -> PollAdapter:
    """A fresh adapter instance for ``Integration.poll_adapter`` (AdapterError if unknown)."""
    try:
        return ADAPTERS[name]()
    except KeyError:
        raise AdapterError(f"Unknown poll adapter {name!r}") from None


__all__ = ["ADAPTERS", "AdapterError", "PollAdapter", "PollBatch", "adapter_for"]
