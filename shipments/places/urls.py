"""URL patterns of the places API (under /api/v1/places/)."""

from django.urls import path

from shipments.places import api

urlpatterns = [
    path("", api.PlaceSearchView.as_view(), name="places-search"),
    path("tenant/", api.TenantPlaceListView.as_view(), name="places-tenant"),
    path("tenant/<id:place_id>/", api.TenantPlaceDetailView.as_view(), name="places-tenant-detail"),
]
