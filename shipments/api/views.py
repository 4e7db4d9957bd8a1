"""Shipments API views: thin; the rules live in shipments.services and the reads in
shipments.selectors. Every view is a TenantAPIView (rate limits, Idempotency-Key on POST,
ETag on reads: tenancy.api.conventions)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from milestones.models import MilestoneTemplate, Mode, TemplateVersion
from milestones.selectors import NoTemplate, template_list
from shipments import selectors, services
from shipments.api.converters import PUBLIC_ID_PATTERN
from shipments.api.serializers import (
    CREATE_EXAMPLE,
    CREATE_FULL_EXAMPLE,
    SHIPMENT_EXAMPLE,
    SHIPMENT_PAGE,
    STATUSES,
    TEMPLATE_LIST,
    TIMELINE_OUT,
    CancelIn,
    ShipmentIn,
    ShipmentOut,
    ShipmentPatch,
)
from shipments.api.timeline import timeline_out
from shipments.models import Shipment
from tenancy.api.base import CALLER_ONLY, STAFF, TenantAPIView
from tenancy.api.fields import limit_parameter, query_time, time_parameter
from tenancy.api.pagination import Keyset, paginate
from tenancy.api.parsers import query_flag
from tenancy.errors import DomainError, NotFound
from tenancy.models import ApiScope, CustomerAccount, Role

READERS = frozenset({Role.ADMIN, Role.OPS, Role.SALES, Role.FINANCE, Role.CUSTOMER})
READ = frozenset({ApiScope.READ})
WRITE = frozenset({ApiScope.WRITE})
CUSTOMER_PATH = "customer_account_id"

# The two orders of the list, each served by the list indexes of Shipment.Meta.
NEWEST_BOOKED = Keyset("booked", ("-booked_at", "-public_id"))
OLDEST_UPDATED = Keyset("updated", ("updated_at", "public_id"))

SHIPMENT_ID = OpenApiParameter(
    "shipment_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    pattern=f"^{PUBLIC_ID_PATTERN}$",
    description="The shipment's id (shp_…)",
)


class ShipmentAPIView(TenantAPIView):
    """Shared by the shipment views: the caller's shipments, one by its public id."""

    def shipments(self) -> Any:
        return self.scoped(selectors.shipment_list(), CUSTOMER_PATH)

    def shipment(self, public_id: str) -> Shipment:
        queryset = selectors.shipment_api_list(self.shipments())
        found = selectors.shipment_by_public_id(public_id=public_id, queryset=queryset)
        if found is None:
            raise NotFound()
        return found

    def customer_account(
        self, code: str | None, *, field: str = "customer"
    ) -> CustomerAccount | None:
        """The account of this code, which the caller must be allowed to use; a limited
        caller's shipments must belong to one of its accounts."""
        limited = self.customer_account_ids
        if code is None:
            if limited is not None:
                raise DomainError(
                    "Name one of your customer accounts.", code="customer_required", field=field
                )
            return None
        account = CustomerAccount.objects.filter(code=code).first()
        if account is None or (limited is not None and account.pk not in limited):
            raise DomainError("Unknown customer account.", code="unknown_customer", field=field)
        return account

    def by(self) -> dict[str, Any]:
        return {"actor": self.actor, "api_key": self.api_key}

    def out(self, shipment: Shipment, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(ShipmentOut(shipment).data, status=status_code)


def _place_fields(prefix: str, place: dict[str, Any] | None) -> dict[str, Any]:
    if place is None:
        return {}
    names = {"locode": "", "address": "", "lat": None, "lon": None}
    return {f"{prefix}_{name}": place.get(name, default) for name, default in names.items()}


class ShipmentListView(ShipmentAPIView):
    role_map = {"GET": READERS, "POST": STAFF}
    scope_map = {"GET": READ, "POST": WRITE}
    customer_scope = CUSTOMER_PATH

    @extend_schema(
        operation_id="shipments_list",
        parameters=[
            OpenApiParameter("reference", str, description="Any reference of the shipment"),
            OpenApiParameter("status", str, enum=list(STATUSES)),
            OpenApiParameter("mode", str, enum=list(Mode.values)),
            OpenApiParameter("carrier", str),
            OpenApiParameter("customer", str, description="A customer account code"),
            time_parameter(
                "updated_since",
                "Only shipments changed since then, oldest change first (for syncing).",
            ),
            OpenApiParameter("late", bool),
            OpenApiParameter(
                "cursor",
                {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
                description="From the previous page's next link",
            ),
            limit_parameter(),
        ],
        responses=SHIPMENT_PAGE,
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        wanted_status = _choice(params, "status", STATUSES)
        mode = _choice(params, "mode", Mode.values)
        updated_since = query_time(request, "updated_since")
        late = query_flag(request, "late") if "late" in params else None
        shipments = selectors.shipment_filtered(
            self.shipments(),
            reference=params.get("reference"),
            status=wanted_status,
            mode=mode,
            carrier=params.get("carrier"),
            customer_code=params.get("customer"),
            updated_since=updated_since,
            late=late,
        )
        order = OLDEST_UPDATED if updated_since is not None else NEWEST_BOOKED
        page = paginate(request, shipments, order, rows=selectors.shipment_api_list)
        results = ShipmentOut(page.rows, many=True).data  # type: ignore[arg-type]  # a list
        return Response({"results": results, "next": page.next_url})

    @extend_schema(
        operation_id="shipments_create",
        request=ShipmentIn,
        responses={201: ShipmentOut},
        examples=[CREATE_EXAMPLE, CREATE_FULL_EXAMPLE, SHIPMENT_EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        data = ShipmentIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        version = self._template_version(values.get("template"), values["mode"])
        parent = self._parent(values.get("parent"))
        try:
            shipment = services.shipment_create(
                mode=values["mode"],
                references=[(r["kind"], r["value"]) for r in values["references"]],
                booked_at=values["booked_at"],
                template_version=version,
                customer_account=self.customer_account(values.get("customer")),
                service=values.get("service", ""),
                carrier=values.get("carrier", ""),
                shipper_name=values.get("shipper_name", ""),
                consignee_name=values.get("consignee_name", ""),
                promised_at=values.get("promised_at"),
                **_place_fields("origin", values.get("origin")),
                **_place_fields("destination", values.get("destination")),
                **self.by(),
            )
        except NoTemplate as error:
            raise DomainError(str(error), code="no_template", field="mode") from None
        if parent is not None:
            services.shipment_link(
                parent=parent, child=shipment, kind=values["parent"]["kind"], actor=self.actor
            )
        return self.out(self.shipment(shipment.public_id), status.HTTP_201_CREATED)

    def _template_version(self, template_id: int | None, mode: str) -> TemplateVersion | None:
        if template_id is None:
            return None
        template = MilestoneTemplate.objects.filter(pk=template_id).first()
        if template is None:
            raise DomainError("Unknown template.", code="unknown_template", field="template")
        if template.mode != mode:
            raise DomainError(
                f"The template is for mode {template.mode}, not {mode}.",
                code="template_mode",
                field="template",
            )
        version = TemplateVersion.objects.filter(template=template).order_by("-number").first()
        if version is None:
            raise DomainError("The template has no version.", code="no_template", field="template")
        return version

    def _parent(self, parent: dict[str, Any] | None) -> Shipment | None:
        if parent is None:
            return None
        found = selectors.shipment_by_public_id(public_id=parent["id"], queryset=self.shipments())
        if found is None:
            raise DomainError("Unknown parent shipment.", code="unknown_shipment", field="parent")
        return found


def _choice(params: Any, name: str, allowed: Any) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if value not in allowed:
        raise DomainError(
            f"Unknown {name} {value!r}; expected one of {', '.join(allowed)}.",
            code="invalid_parameter",
            field=name,
        )
    return str(value)


class ShipmentDetailView(ShipmentAPIView):
    role_map = {"GET": READERS, "PATCH": STAFF}
    scope_map = {"GET": READ, "PATCH": WRITE}
    customer_scope = CUSTOMER_PATH

    @extend_schema(
        operation_id="shipments_retrieve",
        parameters=[SHIPMENT_ID],
        responses=ShipmentOut,
        examples=[SHIPMENT_EXAMPLE],
    )
    def get(self, request: Request, shipment_id: str) -> Response:
        return self.out(self.shipment(shipment_id))

    @extend_schema(
        operation_id="shipments_update",
        parameters=[SHIPMENT_ID],
        request=ShipmentPatch,
        responses=ShipmentOut,
    )
    def patch(self, request: Request, shipment_id: str) -> Response:
        shipment = self.shipment(shipment_id)
        data = ShipmentPatch(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        changes: dict[str, Any] = {}
        if "customer" in values:
            changes["customer_account"] = self.customer_account(values.pop("customer"))
        for prefix in ("origin", "destination"):
            if prefix in values:
                changes |= _place_fields(prefix, values.pop(prefix))
        changes |= values
        services.shipment_update(shipment=shipment, changes=changes, **self.by())
        return self.out(self.shipment(shipment_id))


class ShipmentCancelView(ShipmentAPIView):
    role_map = {"POST": STAFF}
    scope_map = {"POST": WRITE}
    customer_scope = CUSTOMER_PATH

    @extend_schema(
        operation_id="shipments_cancel",
        parameters=[SHIPMENT_ID],
        request=CancelIn,
        responses=ShipmentOut,
    )
    def post(self, request: Request, shipment_id: str) -> Response:
        shipment = self.shipment(shipment_id)
        data = CancelIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.shipment_cancel(
            shipment=shipment, reason=data.validated_data.get("reason", ""), **self.by()
        )
        return self.out(self.shipment(shipment_id))


class ShipmentTimelineView(ShipmentAPIView):
    role_map = {"GET": READERS}
    scope_map = {"GET": READ}
    customer_scope = CUSTOMER_PATH

    @extend_schema(
        operation_id="shipments_timeline",
        parameters=[
            SHIPMENT_ID,
            time_parameter("as_of", "The timeline as it was known then (default: now)."),
        ],
        responses=TIMELINE_OUT,
    )
    def get(self, request: Request, shipment_id: str) -> Response:
        as_of = query_time(request, "as_of")
        # The timeline needs neither the references nor the template's name: the bare row.
        shipment = selectors.shipment_by_public_id(public_id=shipment_id, queryset=self.shipments())
        if shipment is None:
            raise NotFound()
        body = timeline_out(
            shipment,
            locale=self.tenant.locale,
            customer_limited=self.is_customer_limited,
            as_of=as_of,
        )
        return Response(body)


class TemplateListView(TenantAPIView):
    """The tenant's milestone templates, each with its latest version's milestones (what a
    shipment of that mode is tracked against)."""

    role_map = {"GET": READERS}
    scope_map = {"GET": READ}
    # Templates hold nothing of any customer's: customer-limited callers may read them.
    customer_scope = CALLER_ONLY

    @extend_schema(
        operation_id="templates_list",
        responses=TEMPLATE_LIST,
    )
    def get(self, request: Request) -> Response:
        locale = self.tenant.locale
        templates = list(template_list())
        latest: dict[int, TemplateVersion] = {}
        for version in TemplateVersion.objects.filter(
            template_id__in=[t.pk for t in templates]
        ).order_by("template_id", "-number"):
            latest.setdefault(version.template_id, version)
        results = []
        for template in templates:
            found = latest.get(template.pk)
            if found is None:
                continue
            version = found
            definitions = selectors.version_definitions(version.pk)
            results.append(
                {
                    "id": template.pk,
                    "name": template.name,
                    "mode": template.mode,
                    "shipment_type": template.shipment_type,
                    "version": version.number,
                    "milestones": [
                        {
                            "code": d.code,
                            "label": d.label.get(locale) or d.label.get("en") or d.code,
                            "sequence": d.sequence,
                            "kind": d.kind,
                            "required": d.required,
                            "customer_visible": d.customer_visible,
                        }
                        for d in sorted(definitions, key=lambda d: d.sequence)
                        if not self.is_customer_limited or d.customer_visible
                    ],
                }
            )
        return Response({"results": results})
