from __future__ import annotations

import pytest
from django.test import Client

from tests.access import covers_url

pytestmark = pytest.mark.django_db


@covers_url("api-schema", "api-docs")
def test_api_schema_and_docs_are_readable(personas):
    schema = Client().get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/me/" in schema.content
    docs = Client().get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
