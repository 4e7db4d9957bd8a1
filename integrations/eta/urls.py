"""URL patterns of the ETA, mounted at /api/v1/eta/ by config.urls."""

from django.urls import path

from integrations.eta import api

urlpatterns = [
    path("shipments/<id:shipment_id>/", api.ShipmentEtaView.as_view(), name="eta-shipment"),
    path("accuracy/", api.AccuracyView.as_view(), name="eta-accuracy"),
    path("accuracy/csv/", api.AccuracyCsvView.as_view(), name="eta-accuracy-csv"),
]
