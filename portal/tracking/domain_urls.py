"""The URL set of a tenant's own tracking domain (portal.tracking.middleware picks it):
``/`` is the form, ``/<tracking number>/`` the page; tokens work there too."""

from django.urls import path

from portal.tracking import urls, views

urlpatterns = [
    path("", views.track_domain_form, name="track-domain-form"),
    *[p for p in urls.urlpatterns if p.name not in ("track-form", "track-page")],
    path("<str:tracking_number>/", views.track_domain_page, name="track-domain-page"),
]
