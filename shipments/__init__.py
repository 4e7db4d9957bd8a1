"""Shipments: references, parties, legs, parent/child links and their tracking events."""
