"""Milestone templates per tenant: defaults, validation, versions, explicit migration, policy."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from milestones.default_templates import DEFAULT_TEMPLATES
from milestones.engine import DEFAULT_SOURCE_PRIORITY, MilestoneDef, PlannedRule
from milestones.models import (
    MilestoneDefinition,
    MilestoneTemplate,
    Mode,
    TemplateVersion,
    TrackingPolicy,
)
from milestones.selectors import source_priority, template_latest_version
from milestones.services import (
    TemplateInvalid,
    template_create,
    template_revise,
    tracking_policy_set,
)
from shipments.models import Shipment
from shipments.services import ShipmentError, shipment_migrate_template
from tenancy.context import tenant_context
from tenancy.models import AuditLog
from tests.shipments.conftest import new_shipment

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


def _def(code: str, sequence: int, anchor: str | None = "booking", offset=H) -> MilestoneDef:
    planned = PlannedRule(anchor=anchor, offset=offset) if anchor else None
    return MilestoneDef(code=code, label={"en": code}, sequence=sequence, planned=planned)


def _counts() -> tuple[int, int, int, int]:
    return (
        MilestoneTemplate.objects.count(),
        TemplateVersion.objects.count(),
        MilestoneDefinition.objects.count(),
        AuditLog.objects.count(),
    )


def test_a_new_tenant_starts_with_its_own_default_template_for_every_mode(tenant, other_tenant):
    assert len(Mode.values) == 9
    with tenant_context(tenant.pk):
        templates = {t.mode: t for t in MilestoneTemplate.objects.all()}
        assert sorted(templates) == sorted(Mode.values)
        for mode, defaults in DEFAULT_TEMPLATES.items():
            version = template_latest_version(mode=mode)
            assert version.template_id == templates[mode].pk
            assert version.number == 1
            assert version.engine_definitions() == sorted(defaults, key=lambda d: d.sequence)
        own_ids = {t.pk for t in templates.values()}
    with tenant_context(other_tenant.pk):
        # Each tenant has its own editable copy, not a shared row.
        other_ids = set(MilestoneTemplate.objects.values_list("pk", flat=True))
    assert len(other_ids) == 9
    assert own_ids.isdisjoint(other_ids)


INVALID_TEMPLATES = [
    pytest.param([], "empty_template", "no milestones", id="empty"),
    pytest.param(
        [_def("picked_up", 10), _def("picked_up", 20)],
        "duplicate_code",
        "duplicate milestone code 'picked_up'",
        id="duplicate-code",
    ),
    pytest.param(
        [_def("picked_up", 10), _def("departed", 20, anchor="loaded")],
        "unknown_anchor",
        "refers to unknown milestone 'loaded'",
        id="unknown-anchor",
    ),
    pytest.param(
        [_def("picked_up", 10, anchor="departed"), _def("departed", 20)],
        "anchor_later",
        "rule of 'picked_up' refers to later milestone 'departed'",
        id="later-anchor",
    ),
    pytest.param(
        [
            _def("picked_up", 10, anchor="arrived"),
            _def("departed", 20, anchor="picked_up"),
            _def("arrived", 30, anchor="departed"),
        ],
        "anchor_cycle",
        "cycle",
        id="cycle",
    ),
    pytest.param(
        [_def("departed", 10, anchor="departed")],
        "anchor_cycle",
        "refers to itself",
        id="self-anchor",
    ),
]


@pytest.mark.parametrize(("definitions", "code", "message"), INVALID_TEMPLATES)
def test_template_create_refuses_invalid_templates_and_writes_nothing(
    tenant, definitions, code, message
):
    with tenant_context(tenant.pk):
        before = _counts()
        with pytest.raises(TemplateInvalid) as raised:
            template_create(
                name="Custom", mode="road_ftl", shipment_type="express", definitions=definitions
            )
        assert raised.value.code == code
        assert message in str(raised.value)
        assert _counts() == before
        assert not MilestoneTemplate.objects.filter(shipment_type="express").exists()


def test_template_create_refuses_an_unknown_mode(tenant):
    with tenant_context(tenant.pk):
        before = _counts()
        with pytest.raises(TemplateInvalid, match="Unknown mode 'rail'"):
            template_create(name="Rail", mode="rail", definitions=[_def("departed", 10)])
        assert _counts() == before


def test_template_create_writes_version_one_with_its_definitions_and_an_audit_row(tenant):
    definitions = [_def("picked_up", 10), _def("departed", 20, anchor="picked_up", offset=2 * H)]
    with tenant_context(tenant.pk):
        version = template_create(
            name="Express FTL", mode="road_ftl", shipment_type="express", definitions=definitions
        )
        version.refresh_from_db()
        assert version.number == 1
        assert version.template.shipment_type == "express"
        assert version.engine_definitions() == definitions
        audit = AuditLog.objects.get(action="template.create", target_id=str(version.template_id))
        assert audit.changes == {"mode": "road_ftl", "version": 1}


def test_template_revise_adds_a_version_and_existing_shipments_keep_theirs(tenant):
    with tenant_context(tenant.pk):
        v1 = template_latest_version(mode="road_ftl")
    shipment = new_shipment(tenant, mode="road_ftl")
    assert shipment.template_version_id == v1.pk
    with tenant_context(tenant.pk):
        shortened = [d for d in v1.engine_definitions() if d.code != "proof_of_delivery"]
        v2 = template_revise(template=v1.template, definitions=shortened, note="no POD")
        assert v2.number == 2
        assert v2.template_id == v1.template_id
        assert [d.code for d in v2.engine_definitions()] == [d.code for d in shortened]
        # Version 1 is untouched and still used by the existing shipment.
        assert "proof_of_delivery" in {d.code for d in v1.engine_definitions()}
        assert Shipment.objects.get(pk=shipment.pk).template_version_id == v1.pk
        assert template_latest_version(mode="road_ftl").pk == v2.pk
        assert AuditLog.objects.filter(action="template.revise", reason="no POD").count() == 1
    newer = new_shipment(tenant, mode="road_ftl")
    assert newer.template_version_id == v2.pk
    with tenant_context(tenant.pk):
        shipment.refresh_from_db()
    codes = lambda s: [r["code"] for r in s.timeline["rows"]]  # noqa: E731
    assert "proof_of_delivery" in codes(shipment)
    assert "proof_of_delivery" not in codes(newer)


def test_template_revise_validates_and_keeps_the_latest_version(tenant):
    with tenant_context(tenant.pk):
        v1 = template_latest_version(mode="air")
        broken = [*v1.engine_definitions(), _def("picked_up", 999)]
        before = _counts()
        with pytest.raises(TemplateInvalid, match="duplicate milestone code 'picked_up'"):
            template_revise(template=v1.template, definitions=broken)
        assert _counts() == before
        assert template_latest_version(mode="air").pk == v1.pk


def test_shipment_migrate_template_moves_explicitly_with_reason_and_audit(tenant, ops_user):
    with tenant_context(tenant.pk):
        v1 = template_latest_version(mode="road_ftl")
        v2 = template_revise(
            template=v1.template,
            definitions=[d for d in v1.engine_definitions() if d.code != "proof_of_delivery"],
        )
    shipment = new_shipment(tenant, mode="road_ftl", template_version=v1)
    with tenant_context(tenant.pk):
        audits = AuditLog.objects.filter(action="shipment.migrate_template")
        for reason in ("", "   "):
            with pytest.raises(ShipmentError) as raised:
                shipment_migrate_template(shipment=shipment, version=v2, reason=reason)
            assert raised.value.field == "reason"
        assert Shipment.objects.get(pk=shipment.pk).template_version_id == v1.pk
        assert not audits.exists()

        shipment_migrate_template(
            shipment=shipment, version=v2, reason="customer waived POD", actor=ops_user
        )
        stored = Shipment.objects.get(pk=shipment.pk)
        assert stored.template_version_id == v2.pk
        assert "proof_of_delivery" not in [r["code"] for r in stored.timeline["rows"]]
        audit = audits.get()
        assert audit.reason == "customer waived POD"
        assert audit.target_id == str(shipment.pk)
        assert audit.actor_id == ops_user.pk
        assert audit.changes == {"template_version": [v1.pk, v2.pk]}


@pytest.mark.parametrize(
    "priority",
    [
        pytest.param(["user", "carrier"], id="unknown-kind"),
        pytest.param(["user", "integration", "user"], id="duplicate"),
    ],
)
def test_tracking_policy_set_refuses_invalid_orders(tenant, priority):
    with tenant_context(tenant.pk):
        with pytest.raises(TemplateInvalid) as raised:
            tracking_policy_set(source_priority=priority)
        assert raised.value.code == "invalid_source_priority"
        assert not TrackingPolicy.objects.exists()
        assert source_priority() == DEFAULT_SOURCE_PRIORITY


def test_tracking_policy_set_stores_one_policy_per_tenant(tenant, other_tenant):
    with tenant_context(tenant.pk):
        tracking_policy_set(source_priority=["integration", "user", "projection"])
        tracking_policy_set(source_priority=["partner", "integration", "user", "projection"])
        assert TrackingPolicy.objects.count() == 1
        assert source_priority() == ("partner", "integration", "user", "projection")
        assert AuditLog.objects.filter(action="tracking_policy.set").count() == 2
    with tenant_context(other_tenant.pk):
        assert source_priority() == DEFAULT_SOURCE_PRIORITY


def test_milestone_definition_round_trips_through_the_database(tenant):
    original = dataclasses.replace(
        DEFAULT_TEMPLATES["parcel"][0],
        allowed_sources=frozenset({"user", "system"}),
        tolerance=3 * H,
    )
    with tenant_context(tenant.pk):
        version = template_create(
            name="Parcel express", mode="parcel", shipment_type="express", definitions=[original]
        )
        assert version.engine_definitions() == [original]
