"""URL patterns of tasks, mounted at /api/v1/tasks/ by config.urls."""

from django.urls import path

from integrations.workflow import api

urlpatterns = [
    path("", api.TaskListView.as_view(), name="tasks"),
    path("<id:task_id>/done/", api.TaskDoneView.as_view(), name="task-done"),
    path("<id:task_id>/reopen/", api.TaskReopenView.as_view(), name="task-reopen"),
]
