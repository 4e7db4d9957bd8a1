"""URL patterns of the shipments API, mounted at /api/v1/ by config.urls."""

from django.urls import path

from shipments.api import converters, views

converters.register()

urlpatterns = [
    path("shipments/", views.ShipmentListView.as_view(), name="api-shipments"),
    path(
        "shipments/<public_id:shipment_id>/",
        views.ShipmentDetailView.as_view(),
        name="api-shipment-detail",
    ),
    path(
        "shipments/<public_id:shipment_id>/cancel/",
        views.ShipmentCancelView.as_view(),
        name="api-shipment-cancel",
    ),
    path(
        "shipments/<public_id:shipment_id>/timeline/",
        views.ShipmentTimelineView.as_view(),
        name="api-shipment-timeline",
    ),
    path("templates/", views.TemplateListView.as_view(), name="api-templates"),
]
