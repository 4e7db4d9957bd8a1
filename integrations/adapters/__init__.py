"""Poll adapters: fetch pages from a partner's API for ``integrations.polling`` to store."""

from integrations.adapters.base import (
    AdapterError,
    PollAdapter,
    PollBatch,
    adapter_for,
    registered_adapters,
)

__all__ = ["AdapterError", "PollAdapter", "PollBatch", "adapter_for", "registered_adapters"]
