"""URL patterns of the positions channel, included by integrations.urls."""

from django.urls import path

from integrations.positions import api

urlpatterns = [
    path("positions/", api.PositionsIngestView.as_view(), name="ingest-field-positions"),
    path(
        "shipments/<id:shipment_id>/stops/",
        api.StopsView.as_view(),
        name="ingest-field-stops",
    ),
    path(
        "shipments/<id:shipment_id>/positions/",
        api.ShipmentPositionsView.as_view(),
        name="ingest-field-shipment-positions",
    ),
]
