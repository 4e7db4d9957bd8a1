from django.urls import path

from portal.ops import views, views_admin, views_import, views_routes, views_work
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
]
