"""Customer portal URLs (fixed: other tools link to them). Mounted at the root by config.urls."""

from django.urls import path

from portal.tracking import views

urlpatterns = [
    path("track/<slug:slug>/", views.track_form, name="track-form"),
    path("track/<slug:slug>/<str:tracking_number>/", views.track_page, name="track-page"),
    path("t/<str:token>/", views.track_share, name="track-share"),
    path("track-files/<str:token>/<int:attachment_id>/", views.track_file, name="track-file"),
    path("track-act/<str:token>/<slug:action>/", views.track_action, name="track-action"),
    path("track-data/<str:token>/", views.track_snapshot, name="track-snapshot"),
    path("track-logo/<slug:slug>/", views.track_logo, name="track-logo"),
    path("portal/shipments/", views.my_shipments, name="track-mine"),
]
