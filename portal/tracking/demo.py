"""The demo's last mile (seed_demo calls ``seed_last_mile_demo`` once per tenant): a
shipment out for delivery on the demo driver's route, and a simulated driver that drives
towards each stop and delivers it with a photo and a signature (``simulate_step``, run
every 10 s by beat: "tracking.simulate_drivers")."""

from __future__ import annotations

import io
import math
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone
from PIL import Image, ImageDraw

from integrations.models import LatestPosition
from integrations.scans.parse import Upload
from portal.driver import services as driver_services
from portal.routing import services as routing
from portal.routing.models import Route, RouteStop, StopStatus
from portal.tracking.models import PortalSettings
from shipments.models import ShipmentReference
from shipments.services import NewEvent, events_record, shipment_create
from tenancy.context import for_each_tenant, tenant_context
from tenancy.models import CustomerAccount, Tenant, User

CITIES = {  # the city (its UN/LOCODE is a drop's lane), depot and drops per demo tenant
    "northwind": (
        "DEBER",
        (52.5300, 13.3850),
        [
            (52.5208, 13.4094, "Alexanderplatz 1, 10178 Berlin"),
            (52.5163, 13.3777, "Pariser Platz 2, 10117 Berlin"),
            (52.5096, 13.3760, "Potsdamer Platz 5, 10785 Berlin"),
        ],
    ),
    "swift": (
        "GBLON",
        (51.5320, -0.1240),
        [
            (51.5194, -0.1270, "Great Russell St 44, WC1B 3DG London"),
            (51.5080, -0.1281, "Trafalgar Sq 1, WC2N 5DN London"),
            (51.5014, -0.1419, "Buckingham Gate 3, SW1E 6JP London"),
        ],
    ),
}
STEP_M = 150.0  # per 10 s beat tick: about 54 km/h, a pace a customer can follow on the map
ARRIVE_M = 80.0


ROUND_PAUSE = timedelta(minutes=5)  # the last proof of delivery stays on the page a while


def seed_last_mile_demo(tenant: Tenant, domain: str) -> None:
    """A round of drops on the demo driver's route of today, unless stops are still pending."""
    with tenant_context(tenant.pk):
        driver = User.objects.get(email=f"driver@{domain}")
    seed_round(tenant, driver)


def seed_round(tenant: Tenant, driver: User) -> bool:
    """Three drops for the driver today, the first round named LM-DEMO-<SLUG>-<n>, later ones
    LM-DEMO-<SLUG>-<round>-<n>; nothing while today's route has a stop pending."""
    city, depot, drops = CITIES.get(tenant.slug, CITIES["northwind"])
    prefix = f"LM-DEMO-{tenant.slug.upper()}-"
    with tenant_context(tenant.pk):
        route = routing.route_for(driver=driver)
        if RouteStop.objects.filter(route=route, status=StopStatus.PENDING).exists():
            return False
        seeded = ShipmentReference.objects.filter(
            kind="tracking_number", value__startswith=prefix
        ).count()
        round_no = seeded // len(drops) + 1
        account = CustomerAccount.objects.order_by("code").first()
        PortalSettings.objects.get_or_create(defaults={"driver_position": "exact"})
        route.start_lat, route.start_lon = depot
        route.save()
        now = timezone.now()
        for n, (lat, lon, address) in enumerate(drops, 1):
            number = f"{prefix}{n}" if round_no == 1 else f"{prefix}{round_no}-{n}"
            shipment = shipment_create(
                mode="last_mile",
                references=[("tracking_number", number)],
                booked_at=now - timedelta(hours=4),
                customer_account=account,
                consignee_name=["Erika Mustermann", "Max Muster", "Jane Doe"][n - 1],
                destination_address=address,
                destination_lat=lat,
                destination_lon=lon,
                origin_lat=depot[0],
                origin_lon=depot[1],
                origin_locode=city,
                destination_locode=city,
            )
            events_record(
                events=[
                    NewEvent(
                        shipment_id=shipment.pk,
                        milestone=code,
                        occurred_at=now - timedelta(minutes=m),
                        classifier="ACT",
                        source_kind="system",
                        source_name="demo",
                    )
                    for code, m in (("picked_up", 90), ("out_for_delivery", 15))
                ]
            )
            routing.stop_add(
                route=route,
                shipment=shipment,
                window_start=now,
                window_end=now + timedelta(hours=3),
            )
        routing.route_sequence(route=route)
    return True


def _next_round(tenant_id: int) -> None:
    """The demo keeps moving: a new round of drops once the driver's last one of today was
    delivered ROUND_PAUSE ago, or on a new day (the demo driver drove a route before)."""
    last = (
        Route.objects.filter(driver__email__startswith="driver@")
        .select_related("driver")
        .order_by("-day")
        .first()
    )
    if last is None:
        return  # not a demo tenant
    today = Route.objects.filter(driver=last.driver, day=routing.tenant_day()).first()
    if today is not None:
        stops = RouteStop.objects.filter(route=today)
        if stops.filter(status=StopStatus.PENDING).exists():
            return
        finished = stops.aggregate(at=Max("done_at"))["at"]
        if finished is not None and timezone.now() - finished < ROUND_PAUSE:
            return
    seed_round(Tenant.objects.get(pk=tenant_id), last.driver)


def _png_signature() -> bytes:
    image = Image.new("RGB", (300, 100), "white")
    draw = ImageDraw.Draw(image)
    points = [(20 + x * 13, 60 + int(22 * math.sin(x / 1.7))) for x in range(20)]
    draw.line(points, fill="black", width=3)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _jpeg_photo() -> bytes:
    image = Image.new("RGB", (320, 240), "#c8b48a")
    draw = ImageDraw.Draw(image)
    draw.rectangle((90, 70, 230, 190), fill="#8b5a2b", outline="#5a3a1a", width=4)
    draw.line((90, 110, 230, 110), fill="#d9c9a3", width=6)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _move(
    lat: float, lon: float, to_lat: float, to_lon: float, metres: float
) -> tuple[float, float, float]:
    dy = (to_lat - lat) * 111_320
    dx = (to_lon - lon) * 111_320 * math.cos(math.radians(lat))
    distance = math.hypot(dx, dy)
    if distance <= metres:
        return to_lat, to_lon, 0.0
    f = metres / distance
    return lat + (to_lat - lat) * f, lon + (to_lon - lon) * f, distance - metres


def simulate_step() -> int:
    """One move of every demo driver (in each tenant's context); returns the moves made."""

    def step(tenant_id: int) -> int:
        _next_round(tenant_id)
        moved = 0
        for route in Route.objects.filter(
            day=routing.tenant_day(), driver__email__startswith="driver@"
        ):
            stop = (
                RouteStop.objects.filter(route=route, status=StopStatus.PENDING)
                .order_by("sequence")
                .first()
            )
            if stop is None:
                continue
            latest = LatestPosition.objects.filter(
                subject_kind="vehicle", subject=route.vehicle_ref
            ).first()
            lat, lon = (
                (latest.lat, latest.lon)
                if latest
                else (route.start_lat or stop.lat, route.start_lon or stop.lon)
            )
            lat, lon, left = _move(lat, lon, stop.lat, stop.lon, STEP_M)
            driver_services.driver_position_record(driver=route.driver, lat=lat, lon=lon)
            if left <= ARRIVE_M:
                reference = stop.shipment.references.exclude(kind="milepost").first()
                driver_services.driver_scan_record(
                    driver=route.driver,
                    key=f"demo-{stop.pk}",
                    action="delivery",
                    reference=reference.value if reference else stop.shipment.public_id,
                    lat=lat,
                    lon=lon,
                    recipient_name=stop.name or "Recipient",
                    uploads=[
                        Upload("photo", "photo.jpg", "image/jpeg", (p := _jpeg_photo()), len(p)),
                        Upload(
                            "signature", "sig.png", "image/png", (s := _png_signature()), len(s)
                        ),
                    ],
                )
            moved += 1
        return moved

    tenant_ids = list(Tenant.objects.values_list("pk", flat=True))
    return sum(int(str(n)) for n in for_each_tenant(tenant_ids, step).values())
