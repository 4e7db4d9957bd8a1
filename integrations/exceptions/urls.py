"""URL patterns of exceptions, mounted at /api/v1/exceptions/ by config.urls."""

from django.urls import path, register_converter
from django.urls.converters import get_converters

from integrations.exceptions import api

EXCEPTION_ID_PATTERN = "exc_[0-9a-hjkmnp-tv-z]{16}"


class ExceptionIdConverter:
    regex = EXCEPTION_ID_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


if "exception_id" not in get_converters():
    register_converter(ExceptionIdConverter, "exception_id")

urlpatterns = [
    path("", api.ExceptionListView.as_view(), name="exceptions"),
    path("<exception_id:exception_id>/", api.ExceptionDetailView.as_view(), name="exception"),
    path(
        "<exception_id:exception_id>/acknowledge/",
        api.ExceptionAcknowledgeView.as_view(),
        name="exception-acknowledge",
    ),
    path(
        "<exception_id:exception_id>/assign/",
        api.ExceptionAssignView.as_view(),
        name="exception-assign",
    ),
    path(
        "<exception_id:exception_id>/resolve/",
        api.ExceptionResolveView.as_view(),
        name="exception-resolve",
    ),
]
