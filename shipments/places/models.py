"""Places: the global reference registry (shared, read-only) and each tenant's own places."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils.timezone import now

from tenancy.models import TenantOwned


class PlaceKind(models.TextChoices):
    UNLOCODE = "unlocode", "UN/LOCODE"
    CITY = "city", "City"
    ADDRESS = "address", "Address"
    GLN = "gln", "GLN / SGLN"
    FACILITY = "facility", "Facility"
    GEOFENCE = "geofence", "Geofence stop"


class Place(models.Model):
    """A UN/LOCODE or a city, loaded from the data packages by ``manage.py load_places``.

    Shared by every tenant and never written by the app: the app role has SELECT only
    (shipments.places.grants). ``keys`` are what a location as sent is looked up by
    (shipments.places.keys): the code, and "CC:SUB:NAME" / "CC::NAME" name keys."""

    kind = models.CharField(max_length=12, choices=PlaceKind.choices)
    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2)
    country_name = models.CharField(max_length=120, blank=True)
    subdivision = models.CharField(max_length=3, blank=True)
    subdivision_name = models.CharField(max_length=120, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    timezone = models.CharField(max_length=64, blank=True)  # "" = the data cannot place it
    population = models.PositiveIntegerField(default=0)
    keys = ArrayField(models.CharField(max_length=160), default=list)
    # The name upper-cased, without diacritics (data.normalize_name): what search matches.
    search_name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]
        indexes = [
            GinIndex(fields=["keys"], name="place_keys_gin"),
            # "rott" -> Rotterdam: trigram index, serves LIKE 'ROTT%' / '%ROTT%' and similarity.
            GinIndex(fields=["search_name"], opclasses=["gin_trgm_ops"], name="place_name_trgm"),
            # Prefixes of one or two characters, which trigrams cannot serve.
            models.Index(
                fields=["search_name"], opclasses=["varchar_pattern_ops"], name="place_name_prefix"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class TenantPlace(TenantOwned):
    """A tenant's own place: a warehouse or DC, a GLN/SGLN, a customer address, a geofence
    stop, or a code its partners send that the registry does not know. ``codes`` are what
    those partners send for it (an SGLN URN, a GLN, "CHICAGO, IL, US", a private code)."""

    kind = models.CharField(max_length=12, choices=PlaceKind.choices, default=PlaceKind.FACILITY)
    name = models.CharField(max_length=200)
    codes = ArrayField(models.CharField(max_length=160), default=list, blank=True)
    address = models.CharField(max_length=300, blank=True)
    country = models.CharField(max_length=2, blank=True)
    subdivision = models.CharField(max_length=3, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    # The registry place it is at, when there is one (its zone if none is given here).
    place = models.ForeignKey(
        Place, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    keys = ArrayField(models.CharField(max_length=160), default=list, editable=False)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [GinIndex(fields=["keys"], name="tenant_place_keys_gin")]

    def __str__(self) -> str:
        return self.name
