"""Mounted at /api/v1/ by config.urls."""

from django.urls import path

from portal.tracking import api

urlpatterns = [
    path(
        "shipments/<public_id:shipment_id>/thread/",
        api.ShipmentThreadView.as_view(),
        name="shipment-thread",
    ),
    path("ratings/", api.RatingListView.as_view(), name="rating-list"),
]
