from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "integrations.workflow"
    label = "workflow"
    verbose_name = "Workflow rules and tasks"

    def ready(self) -> None:
        from integrations.exceptions import detection
        from integrations.workflow import services, tasks
        from integrations.workflow.actions import register_action
        from integrations.workflow.builtin_actions import CREATE_TASK, SET_TAG
        from shipments import hooks

        register_action(CREATE_TASK)
        register_action(SET_TAG)
        services.register_runner(tasks.run_firings.delay)
        # Rules are evaluated in the changing transaction; their actions run after commit.
        hooks.on_timeline_changed(services.on_timeline_changed)
        detection.on_exceptions_changed(services.on_exceptions_changed)
