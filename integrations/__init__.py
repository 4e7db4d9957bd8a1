"""Integrations: inbound channels, raw message store, parsers and the ingestion pipeline."""
