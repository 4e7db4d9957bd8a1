from django.urls import path

from portal.tracking.consumers import TrackingConsumer
from tenancy.consumers import TenantEventsConsumer

websocket_urlpatterns = [
    path("ws/events/", TenantEventsConsumer.as_asgi()),
    path("ws/track/<str:token>/", TrackingConsumer.as_asgi()),
]
