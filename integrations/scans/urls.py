"""URL patterns of the scans channel, included by integrations.urls."""

from django.urls import path

from integrations.scans import api

urlpatterns = [path("scans/", api.ScanView.as_view(), name="ingest-field-scans")]
