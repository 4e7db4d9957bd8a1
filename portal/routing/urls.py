"""Mounted at /api/v1/routes/ by config.urls."""

from django.urls import path

from portal.routing import api

urlpatterns = [
    path("<id:route_id>/sequence/", api.RouteSequenceView.as_view(), name="route-sequence"),
    path("<id:route_id>/order/", api.RouteOrderView.as_view(), name="route-order"),
]
