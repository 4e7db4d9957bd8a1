from django.urls import path

from portal.ops import (
    views,
    views_admin,
    views_import,
    views_jobs,
    views_routes,
    views_settings,
    views_work,
)
from shipments.api.converters import register

register()

urlpatterns = [
    path("", views.shipment_list, name="ops-shipments"),
    path("rows/", views.shipment_rows, name="ops-rows"),
    path("kpis/", views.kpi_tiles, name="ops-kpis"),
    path("views/", views.saved_view_create, name="ops-view-create"),
    path("views/<int:view_id>/delete/", views.saved_view_delete, name="ops-view-delete"),
    path("bulk/", views.bulk_action, name="ops-bulk"),
    path("shipments/<public_id:public_id>/", views.shipment_detail, name="ops-shipment"),
    path(
        "shipments/<public_id:public_id>/timeline/",
        views.shipment_timeline,
        name="ops-shipment-timeline",
    ),
    path(
        "shipments/<public_id:public_id>/milestone/",
        views.record_milestone,
        name="ops-shipment-milestone",
    ),
    path(
        "shipments/<public_id:public_id>/correct/",
        views.correct_event,
        name="ops-shipment-correct",
    ),
    path(
        "shipments/<public_id:public_id>/documents/",
        views.upload_document,
        name="ops-shipment-upload",
    ),
    path(
        "shipments/<public_id:public_id>/template/",
        views.migrate_template,
        name="ops-shipment-migrate",
    ),
    path("integrations/", views_admin.integrations, name="ops-integrations"),
    path(
        "integrations/dead-letters/<int:dead_letter_id>/replay/",
        views_admin.dead_letter_replay,
        name="ops-dead-letter-replay",
    ),
    path(
        "integrations/dead-letters/replay-all/",
        views_admin.dead_letters_replay_all,
        name="ops-dead-letters-replay-all",
    ),
    path(
        "integrations/<int:integration_id>/codes/",
        views_admin.integration_codes,
        name="ops-integration-codes",
    ),
    path("export/", views_jobs.export_start, name="ops-export"),
    path("jobs/<int:job_id>/", views_jobs.job_detail, name="ops-job"),
    path("jobs/<int:job_id>/progress/", views_jobs.job_progress, name="ops-job-progress"),
    path("jobs/<int:job_id>/download/", views_jobs.job_download, name="ops-job-download"),
    path("analytics/", views_admin.analytics, name="ops-analytics"),
    path("analytics/<slug:chart>.csv", views_admin.analytics_csv, name="ops-analytics-csv"),
    path("import/", views_import.import_home, name="ops-import"),
    path("import/<int:import_id>/", views_import.import_detail, name="ops-import-detail"),
    path(
        "import/<int:import_id>/progress/",
        views_import.import_progress,
        name="ops-import-progress",
    ),
    path("exceptions/", views_work.exception_queue, name="ops-exceptions"),
    path("exceptions/act/", views_work.exceptions_act, name="ops-exceptions-act"),
    path("tasks/", views_work.task_board, name="ops-tasks"),
    path("tasks/<int:task_id>/", views_work.task_act, name="ops-task-act"),
    path("routes/", views_routes.route_list, name="ops-routes"),
    path("routes/<int:route_id>/", views_routes.route_detail, name="ops-route"),
    path("routes/<int:route_id>/order/", views_routes.route_order, name="ops-route-order"),
    path(
        "routes/<int:route_id>/sequence/",
        views_routes.route_resequence,
        name="ops-route-sequence",
    ),
    path("settings/", views_admin.settings_home, name="ops-settings"),
    path("settings/api-keys/", views_admin.api_key_create, name="ops-api-key-create"),
    path(
        "settings/api-keys/<int:key_id>/revoke/",
        views_admin.api_key_revoke,
        name="ops-api-key-revoke",
    ),
    # The settings editors (portal.ops.views_settings).
    path("settings/templates/", views_settings.templates_list, name="ops-settings-templates"),
    path(
        "settings/templates/<int:template_id>/",
        views_settings.template_detail,
        name="ops-settings-template",
    ),
    path(
        "settings/templates/<int:template_id>/edit/",
        views_settings.template_edit,
        name="ops-settings-template-edit",
    ),
    path(
        "settings/templates/<int:template_id>/diff/",
        views_settings.template_diff,
        name="ops-settings-template-diff",
    ),
    path("settings/rules/", views_settings.rules_list, name="ops-settings-rules"),
    path("settings/rules/new/", views_settings.rule_new, name="ops-settings-rule-new"),
    path("settings/rules/<int:rule_id>/", views_settings.rule_edit, name="ops-settings-rule"),
    path(
        "settings/rules/<int:rule_id>/toggle/",
        views_settings.rule_toggle,
        name="ops-settings-rule-toggle",
    ),
    path(
        "settings/rules/<int:rule_id>/delete/",
        views_settings.rule_delete,
        name="ops-settings-rule-delete",
    ),
    path(
        "settings/notifications/",
        views_settings.notifications,
        name="ops-settings-notifications",
    ),
    path(
        "settings/notifications/templates/",
        views_settings.notification_template_save,
        name="ops-settings-notification-template",
    ),
    path(
        "settings/notifications/templates/<int:template_id>/delete/",
        views_settings.notification_template_delete,
        name="ops-settings-notification-template-delete",
    ),
    path(
        "settings/notifications/preferences/",
        views_settings.preference_save,
        name="ops-settings-preference",
    ),
    path("settings/users/", views_settings.users, name="ops-settings-users"),
    path(
        "settings/users/<int:membership_id>/",
        views_settings.user_update,
        name="ops-settings-user",
    ),
    path("settings/webhooks/", views_settings.webhooks, name="ops-settings-webhooks"),
    path(
        "settings/webhooks/<int:webhook_id>/",
        views_settings.webhook_detail,
        name="ops-settings-webhook",
    ),
    path(
        "settings/webhooks/<int:webhook_id>/delete/",
        views_settings.webhook_delete,
        name="ops-settings-webhook-delete",
    ),
    path(
        "settings/webhooks/<int:webhook_id>/test/",
        views_settings.webhook_test,
        name="ops-settings-webhook-test",
    ),
    path(
        "settings/webhooks/<int:webhook_id>/rotate/",
        views_settings.webhook_rotate,
        name="ops-settings-webhook-rotate",
    ),
    path("settings/branding/", views_settings.branding, name="ops-settings-branding"),
]
