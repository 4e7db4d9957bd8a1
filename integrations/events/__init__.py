"""Events pushed through the partner API (/api/v1/shipments/{id}/events/, /api/v1/events/):
stored first as inbound messages of the "api_events" format, then processed by the pipeline
like every other source."""
