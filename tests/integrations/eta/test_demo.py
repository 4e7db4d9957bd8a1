"""The demo: an opted-in customer, delivered history and lane statistics, and an accuracy
report with real figures."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from integrations.eta.models import LaneStat
from integrations.notifications.models import NotificationPreference
from tenancy.context import tenant_context
from tenancy.models import Tenant

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_preferences_and_history_and_the_report_prints_figures():
    call_command("seed_demo", "--scale", "0.05", stdout=StringIO())
    for tenant in Tenant.objects.all():
        with tenant_context(tenant.pk):
            [preference] = NotificationPreference.objects.all()
            assert preference.sms_enabled and preference.sms_milestones == [
                "delivered",
                "out_for_delivery",
            ]
            assert LaneStat.objects.filter(carrier="*").exists()
    call_command("seed_demo", "--scale", "0.05", stdout=StringIO())  # idempotent
    with tenant_context(Tenant.objects.get(slug="northwind").pk):
        assert NotificationPreference.objects.count() == 1
    out = StringIO()
    call_command("eta_accuracy", stdout=out)
    text = out.getvalue()
    assert "Northwind Freight (northwind):" in text and "Swift Courier (swift):" in text
    assert "road_ftl DEHAM→FRPAR" in text and "last_mile GBFXT→GBFXT" in text
