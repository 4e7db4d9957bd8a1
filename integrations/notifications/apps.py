from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "integrations.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from integrations.notifications import services, tasks
        from integrations.notifications.actions import NOTIFY
        from integrations.workflow.actions import register_action

        # Workflow rules can "notify"; the rules engine never imports this app.
        register_action(NOTIFY)
        # Deliveries are Celery tasks (the services do not import the tasks that call them).
        services.register_delivery_queue(tasks.enqueue_delivery)
