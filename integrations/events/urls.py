"""URL patterns of the partner API's events and documents intake, mounted at /api/v1/ by
config.urls (after shipments.api.urls, which registers the public id converter)."""

from django.urls import path

from integrations.events import api, documents
from shipments.api import converters

converters.register()

urlpatterns = [
    path("events/", api.EventsView.as_view(), name="api-events"),
    path(
        "shipments/<public_id:shipment_id>/events/",
        api.ShipmentEventsView.as_view(),
        name="api-shipment-events",
    ),
    path(
        "shipments/<public_id:shipment_id>/documents/",
        documents.ShipmentDocumentsView.as_view(),
        name="api-shipment-documents",
    ),
]
