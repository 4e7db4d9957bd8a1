"""manage.py load_places: the global place registry from the data packages (idempotent)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from shipments.places.loader import places_load


class Command(BaseCommand):
    help = "Load or refresh the global places (UN/LOCODEs, cities) from the data packages."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        result = places_load()
        self.stdout.write(
            f"places: {result.records} in the registry, {result.written} written, "
            f"{result.unplaced} UN/LOCODEs without a zone, "
            f"{time.perf_counter() - started:.1f} s"
        )
