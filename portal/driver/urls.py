"""The driver page, mounted at the root by config.urls."""

from django.urls import path

from portal.driver import views

urlpatterns = [
    path("driver/", views.driver_page, name="driver-page"),
    path("driver/stops/", views.driver_stops, name="driver-stops"),
    path("driver/scan/", views.driver_scan, name="driver-scan"),
    path("driver/position/", views.driver_position, name="driver-position"),
    path("driver/stops/<int:stop_id>/message/", views.driver_message, name="driver-message"),
    path("driver/manifest.webmanifest", views.manifest, name="driver-manifest"),
    path("driver/sw.js", views.service_worker, name="driver-sw"),
]
