"""Seed two demo tenants (a freight forwarder and a last-mile courier) with users for every
role and hundreds of live-looking shipments. Safe to run again: existing tenants are kept."""

from __future__ import annotations

from datetime import time

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from integrations.eta.history import Carrier, Lane, generate_delivered
from integrations.eta.models import LaneStat
from integrations.eta.services import lane_stats_recompute
from integrations.exceptions import detection
from integrations.models import Integration
from integrations.notifications.models import NotificationPreference
from integrations.notifications.services import PreferenceValues, preference_set
from integrations.selectors import known_milestones
from integrations.workflow.models import Rule
from integrations.workflow.services import rule_save
from portal.tracking.demo import seed_last_mile_demo
from shipments.demo import DemoPlan, seed_shipments
from tenancy.context import auth_scope, tenant_context
from tenancy.models import (
    CustomerAccount,
    Membership,
    MembershipCustomerAccount,
    Role,
    Tenant,
    User,
)
from tenancy.services import tenant_create

DEMO_PASSWORD = "milepost-demo"
TENANTS = [
    {
        "slug": "northwind",
        "name": "Northwind Freight",
        "timezone_name": "Europe/Berlin",
        "primary_colour": "#0b4f8a",
        "accent_colour": "#f0a202",
        "support_email": "support@northwind.example",
        "domain": "northwind.example",
        "plans": [
            DemoPlan("ocean_fcl", 40),
            DemoPlan("ocean_lcl", 90),
            DemoPlan("air", 60),
            DemoPlan("road_ftl", 30),
            DemoPlan("road_ltl", 40),
            DemoPlan("multimodal", 20),
        ],
        # Delivered history for the ETA (lane statistics, the accuracy report).
        "history": (
            "road_ftl",
            [
                Lane("DEHAM", "FRPAR", 0.35),
                Lane("NLRTM", "DEMUC", 0.25),
                Lane("DEBER", "ESMAD", 0.9),
            ],
            [Carrier("DSV Road", 1.0), Carrier("Girteka", 1.2)],
            300,
        ),
        "sms_phone": "+4915100000001",
    },
    {
        "slug": "swift",
        "name": "Swift Courier",
        "timezone_name": "Europe/London",
        "primary_colour": "#1b7f4c",
        "accent_colour": "#e4572e",
        "support_email": "help@swift.example",
        "domain": "swift.example",
        "plans": [
            DemoPlan("first_mile", 25),
            DemoPlan("last_mile", 200),
            DemoPlan("parcel", 80),
            DemoPlan("road_ftl", 10),
        ],
        "history": (
            "last_mile",
            [Lane("GBFXT", "GBFXT", 0.8), Lane("FRPAR", "FRPAR", 1.1)],
            [Carrier("Swift Fleet", 1.0)],
            200,
        ),
        "sms_phone": "+447700900001",
    },
]


class Command(BaseCommand):
    help = "Create the demo tenants, users (printed with passwords) and shipments."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--scale", type=float, default=1.0, help="multiply shipment counts")

    def handle(self, *args, scale: float, **options) -> None:
        logins = []
        for spec in TENANTS:
            tenant, fresh = self._tenant(spec)
            logins += self._users(tenant, spec["domain"])
            self._workflow_rules(tenant)  # before the shipments: their exceptions fire rules
            if fresh:
                plans = [DemoPlan(p.mode, max(1, int(p.count * scale))) for p in spec["plans"]]
                with tenant_context(tenant.pk):
                    shipments = seed_shipments(plans=plans, now=timezone.now())
                self.stdout.write(f"{tenant.name}: {len(shipments)} shipments seeded")
            self._simulated_carrier(tenant)
            self._eta_history(tenant, spec, scale)
            self._notification_preferences(tenant, spec)
            changed = detection.sweep(tenant_ids=[tenant.pk])
            self.stdout.write(f"{tenant.name}: {changed} exceptions changed by the first sweep")
            seed_last_mile_demo(tenant, str(spec["domain"]))
        logins.append(self._both_tenants_user())
        self._print(logins)

    @staticmethod
    def _tenant(spec: dict) -> tuple[Tenant, bool]:
        existing = Tenant.objects.filter(slug=spec["slug"]).first()
        if existing:
            return existing, False
        branding = {k: spec[k] for k in ("primary_colour", "accent_colour", "support_email")}
        with transaction.atomic():
            tenant = tenant_create(
                slug=spec["slug"],
                name=spec["name"],
                timezone_name=spec["timezone_name"],
                **branding,
            )
            with tenant_context(tenant.pk):
                for n, name in enumerate(["Acme Retail", "Globex Imports", "Initech Parts"], 1):
                    CustomerAccount.objects.create(
                        code=f"C{n:03d}", name=name, contact_email=f"logistics@c{n}.example"
                    )
        return tenant, True

    @staticmethod
    def _simulated_carrier(tenant: Tenant) -> None:
        """A polling integration whose simulated carrier keeps the demo timelines moving."""
        with tenant_context(tenant.pk):
            Integration.objects.get_or_create(
                name="Simulated carrier",
                defaults={
                    "kind": "dcsa",
                    "partner_name": "Simulated carrier",
                    "poll_adapter": "simulated",
                    "poll_interval_s": 60,
                    # Gate-in at the CFS/warehouse is how the simulator reports receipt.
                    "code_overrides": {"GTIN": "warehouse_received"},
                },
            )

    def _eta_history(self, tenant: Tenant, spec: dict, scale: float) -> None:
        """Delivered shipments on a few lanes, then the lane statistics (once per tenant)."""
        with tenant_context(tenant.pk):
            if LaneStat.objects.exists():
                return
            mode, lanes, carriers, count = spec["history"]
            count = max(40, int(count * scale))
            generate_delivered(
                count=count,
                now=timezone.now(),
                seed=5,
                mode=mode,
                lanes=lanes,
                carriers=carriers,
                booked_from_days=120,
                booked_to_days=6,
                prefix="HIST-",
            )
            result = lane_stats_recompute()
        self.stdout.write(
            f"{tenant.name}: {count} delivered shipments of history, {result.rows} lane statistics"
        )

    @staticmethod
    def _notification_preferences(tenant: Tenant, spec: dict) -> None:
        """The first customer account (the demo customer user's) opts in to SMS for "out for
        delivery" and "delivered" (the file backend writes them to SMS_FILE_PATH) and to
        email, with quiet hours at night; a workflow rule "notify" sends them."""
        with tenant_context(tenant.pk):
            account = CustomerAccount.objects.order_by("code").first()
            if account is None or NotificationPreference.objects.exists():
                return
            preference_set(
                values=PreferenceValues(
                    email=account.contact_email,
                    phone=spec["sms_phone"],
                    email_enabled=bool(account.contact_email),
                    sms_enabled=True,
                    sms_milestones=["out_for_delivery", "delivered"],
                    quiet_hours_start=time(22, 0),
                    quiet_hours_end=time(7, 0),
                ),
                known_milestones=known_milestones(),
                customer_account_id=account.pk,
            )

    def _workflow_rules(self, tenant: Tenant) -> None:
        """Rules of the demo (once per tenant). Late and dark shipments raise exceptions as
        they are seeded, and resolve as the simulated carrier catches up (detection runs on
        every polled batch, the beat sweep every minute).

        * out for delivery: SMS to the opted-in customer (the file backend writes it to
          SMS_FILE_PATH) and a task for ops to confirm the delivery window;
        * a missed milestone: a task for ops, due in an hour, and an in-app note to ops;
        * a dark shipment: tagged "dark" (rules may filter on tags).
        """
        with tenant_context(tenant.pk):
            if not Rule.objects.exists():
                rule_save(
                    name="Out for delivery: tell the customer",
                    trigger="milestone_reached",
                    when={"milestone": "out_for_delivery"},
                    actions=[
                        {
                            "type": "notify",
                            "config": {"channel": "sms", "template": "out_for_delivery"},
                        },
                        {
                            "type": "create_task",
                            "config": {
                                "title": "Confirm the delivery window",
                                "assignee_role": "ops",
                                "due_in_minutes": 120,
                            },
                        },
                    ],
                )
                rule_save(
                    name="Missed milestone: chase the carrier",
                    trigger="milestone_missed",
                    actions=[
                        {
                            "type": "create_task",
                            "config": {
                                "title": "Chase the carrier: {milestone} is late",
                                "assignee_role": "ops",
                                "due_in_minutes": 60,
                            },
                        },
                        {
                            "type": "notify",
                            "config": {
                                "channel": "in_app",
                                "recipients": "role:ops",
                                "template": "exception",
                            },
                        },
                    ],
                )
                rule_save(
                    name="Dark shipment: tag it",
                    trigger="exception_opened",
                    when={"exception_type": "dark_shipment"},
                    actions=[{"type": "set_tag", "config": {"tag": "dark"}}],
                )

    def _users(self, tenant: Tenant, domain: str) -> list[tuple[str, str, str]]:
        rows = []
        for role in Role.values:
            email = f"{role}@{domain}"
            user = self._user(email, is_staff=role == Role.ADMIN)
            with tenant_context(tenant.pk):
                membership, created = Membership.objects.get_or_create(
                    user=user, defaults={"role": role}
                )
                if created and role == Role.CUSTOMER:
                    MembershipCustomerAccount.objects.create(
                        membership=membership,
                        customer_account=CustomerAccount.objects.order_by("code").first(),
                    )
            rows.append((tenant.name, role, email))
        return rows

    def _both_tenants_user(self) -> tuple[str, str, str]:
        user = self._user("dispatcher@milepost.example")
        for tenant in Tenant.objects.filter(slug__in=[t["slug"] for t in TENANTS]):
            with tenant_context(tenant.pk):
                Membership.objects.get_or_create(user=user, defaults={"role": Role.OPS})
        return ("both tenants", "ops", user.email)

    @staticmethod
    def _user(email: str, is_staff: bool = False) -> User:
        user, created = User.objects.get_or_create(email=email, defaults={"is_staff": is_staff})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
            with auth_scope():  # the accounts tables are closed to raw SQL (tenancy.rls)
                EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        return user

    def _print(self, logins: list[tuple[str, str, str]]) -> None:
        self.stdout.write(self.style.SUCCESS(f"\nDemo logins (password for all: {DEMO_PASSWORD})"))
        for tenant, role, email in logins:
            self.stdout.write(f"  {tenant:<20} {role:<9} {email}")
