from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing (charges, invoices, reconciliation)"

    def ready(self) -> None:
        from billing import actions, charging
        from integrations.workflow.actions import register_action
        from shipments import hooks

        # Charges follow the timelines, in the changing transaction, set-based per batch.
        hooks.on_timeline_changed(charging.timelines_changed)
        # Workflow rules (e.g. "an exception of type Y opens") can charge as their action.
        register_action(actions.CHARGE_ACTION)
