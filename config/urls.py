from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from tenancy import views as tenancy_views
from tenancy.api import guide
from tenancy.api import views as tenancy_api

# The admin login goes through allauth: same rate limits and MFA as the app login.
admin.autodiscover()
admin.site.login = secure_admin_login(admin.site.login)

api_v1 = [
    path("me/", tenancy_api.MeView.as_view(), name="api-me"),
    path("api-keys/", tenancy_api.ApiKeyListView.as_view(), name="api-keys"),
    path(
        "api-keys/<id:key_id>/revoke/",
        tenancy_api.ApiKeyRevokeView.as_view(),
        name="api-key-revoke",
    ),
]

urlpatterns = [
    path("healthz", tenancy_views.healthz, name="healthz"),
    path("readyz", tenancy_views.readyz, name="readyz"),
    path("", tenancy_views.home, name="home"),
    path("tenants/switch/", tenancy_views.switch_tenant, name="tenant-switch"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("ops/", include("portal.ops.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/ingest/", include("integrations.urls")),
    path("api/v1/places/", include("shipments.places.urls")),
    path("api/v1/notifications/", include("integrations.notifications.urls")),
    path("api/v1/eta/", include("integrations.eta.urls")),
    path("api/v1/webhooks/", include("integrations.subscriptions.urls")),
    path("api/v1/exceptions/", include("integrations.exceptions.urls")),
    path("api/v1/tasks/", include("integrations.workflow.urls")),
    path("api/v1/rules/", include("integrations.workflow.rule_urls")),
    path("api/v1/", include(api_v1)),
    path("api/v1/", include("shipments.api.urls")),
    path("api/v1/", include("integrations.events.urls")),
    path("", include("portal.tracking.urls")),
    path("", include("portal.driver.urls")),
    path("api/v1/routes/", include("portal.routing.urls")),
    path("api/v1/", include("portal.tracking.api_urls")),
    path("api/guide/", guide.api_guide, name="api-guide"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
