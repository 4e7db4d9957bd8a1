from django.urls import path

from portal.driver.consumers import DriverConsumer
from portal.ops.consumers import CustomerConsumer, OpsConsumer
from portal.tracking.consumers import TrackingConsumer
from tenancy.consumers import TenantEventsConsumer

websocket_urlpatterns = [
    path("ws/events/", TenantEventsConsumer.as_asgi()),
    path("ws/ops/", OpsConsumer.as_asgi()),
    path("ws/customer/", CustomerConsumer.as_asgi()),
    path("ws/track/<str:token>/", TrackingConsumer.as_asgi()),
    path("ws/driver/", DriverConsumer.as_asgi()),
]
