"""Office roles land in the ops dashboard: "/" (where login lands) sends them to /ops/;
customers and drivers keep the home page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.access import covers_url
from tests.tenancy.factories import TEST_PASSWORD


@covers_url("home")
@pytest.mark.parametrize("who", ["admin", "ops", "sales", "finance"])
def test_office_roles_go_from_home_to_the_dashboard(board, who):
    response = board.personas.client(who).get(reverse("home"))
    assert response.status_code == 302 and response["Location"] == "/ops/"


@covers_url("home")
@pytest.mark.parametrize("who", ["customer", "driver"])
def test_customer_and_driver_keep_the_home_page(board, who):
    response = board.personas.client(who).get(reverse("home"))
    assert response.status_code == 200


def test_login_lands_in_the_dashboard(board):
    client = Client()
    login = client.post(
        reverse("account_login"), {"login": "ops@acme.test", "password": TEST_PASSWORD}
    )
    page = client.get(login["Location"], follow=True)
    assert page.redirect_chain == [("/ops/", 302)]
    assert "ACME-0001" in page.content.decode()
