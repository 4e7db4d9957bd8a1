"""URL patterns for this part of ingestion, included by integrations.urls."""

from django.urls import path

from integrations.api import field

urlpatterns: list = [
    path("scans/", field.ScanView.as_view(), name="ingest-field-scans"),
    path("positions/", field.PositionsIngestView.as_view(), name="ingest-field-positions"),
    path(
        "shipments/<int:shipment_id>/stops/",
        field.StopsView.as_view(),
        name="ingest-field-stops",
    ),
    path(
        "shipments/<int:shipment_id>/positions/",
        field.ShipmentPositionsView.as_view(),
        name="ingest-field-shipment-positions",
    ),
]
