"""ETA API: a shipment's predicted windows, and the published accuracy (JSON and CSV)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.eta import selectors
from integrations.eta.accuracy import AccuracyRow, eta_accuracy, neutralise, report_csv
from integrations.eta.predict import Prediction
from integrations.eta.serializers import AccuracyOut, ShipmentEtaOut
from shipments.selectors import shipment_list
from tenancy.api.base import TenantAPIView
from tenancy.api.fields import query_time
from tenancy.models import OFFICE, ApiScope, Role

EVERY_ROLE = frozenset(Role.values)
READ = frozenset({ApiScope.READ})
SINCE = OpenApiParameter(
    "since", OpenApiTypes.DATETIME, required=False, description="shipments booked since"
)


def _prediction(p: Prediction | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "milestone": p.milestone,
        "earliest": p.earliest,
        "likely": p.likely,
        "latest": p.latest,
        "predicted_late_minutes": p.predicted_late_minutes,
        "source": p.source,
        "basis": p.basis,
        "fallback": p.fallback,
    }


class ShipmentEtaView(TenantAPIView):
    """Every remaining milestone's window, the delivery's first among them, and its source."""

    role_map = {"GET": EVERY_ROLE}
    scope_map = {"GET": READ}
    customer_scope = "customer_account_id"

    @extend_schema(responses=ShipmentEtaOut)
    def get(self, request: Request, shipment_id: int) -> Response:
        shipment = self.get_scoped(shipment_list(), pk=shipment_id)
        eta = selectors.shipment_etas([shipment.pk])[shipment.pk]
        return Response(
            ShipmentEtaOut(
                {
                    "shipment_id": shipment.pk,
                    "evaluated_at": eta.evaluated_at,
                    "promised_at": shipment.promised_at,
                    "delivery": _prediction(eta.delivery),
                    "milestones": [_prediction(p) for p in eta.predictions],
                }
            ).data
        )


def _row(row: AccuracyRow) -> dict[str, Any]:
    return {
        "carrier": row.carrier,
        "lane": row.lane,
        "deliveries": row.deliveries,
        "horizons": [
            {
                "horizon_h": h,
                "n": f.n,
                "mae_h": f.mae_h,
                "bias_h": f.bias_h,
                "in_window_share": f.in_window_share,
                "baseline_mae_h": f.baseline_mae_h,
                "sources": f.sources,
            }
            for h, f in row.horizons.items()
        ],
    }


class AccuracyView(TenantAPIView):
    """By carrier and lane: the delivery ETA's error 72/24/4/1 h before delivery, the share
    inside the window, and the template-offset baseline (integrations.eta.accuracy)."""

    role_map = {"GET": OFFICE}
    scope_map = {"GET": READ}
    customer_scope = None

    @extend_schema(parameters=[SINCE], responses=AccuracyOut)
    def get(self, request: Request) -> Response:
        report = eta_accuracy(since=query_time(request, "since"))
        return Response({"results": [_row(r) for r in report.rows], "total": _row(report.total)})


class CsvRenderer(BaseRenderer):
    """For clients that ask for text/csv: the success body is already CSV; an error becomes
    one CSV row (code, message), neutralised like every cell."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        cells = [neutralise(error.get("code", "")), neutralise(error.get("message", ""))]
        return (",".join(f'"{c}"' for c in (c.replace('"', '""') for c in cells)) + "\r\n").encode()


class AccuracyCsvView(AccuracyView):
    """The same report as CSV (a header row, one row per carrier and lane, then "all");
    every cell is neutralised against spreadsheet formulas."""

    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        # DRF's ?format= override is not part of this API (an empty one means "negotiate").
        parameters=[SINCE, OpenApiParameter("format", exclude=True)],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="the report"),
        },
    )
    def get(self, request: Request) -> Response:
        report = eta_accuracy(since=query_time(request, "since"))
        response = HttpResponse(report_csv(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="eta-accuracy.csv"'
        return response  # type: ignore[return-value]
