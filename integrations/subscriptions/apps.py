from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "integrations.subscriptions"
    label = "subscriptions"
    verbose_name = "Partner webhooks (subscriptions, outbox, deliveries)"

    def ready(self) -> None:
        from integrations.subscriptions import actions, tracking
        from integrations.workflow.actions import register_action
        from shipments import hooks

        # Shipment events are derived from timeline changes, in the changing transaction.
        hooks.on_timeline_changed(tracking.shipments_changed)
        # Workflow rules can send a webhook as their action.
        register_action(actions.WEBHOOK_ACTION)
