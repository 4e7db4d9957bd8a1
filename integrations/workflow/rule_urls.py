"""URL patterns of workflow rules, mounted at /api/v1/rules/ by config.urls."""

from django.urls import path

from integrations.workflow import api

urlpatterns = [
    path("", api.RuleListView.as_view(), name="rules"),
    path("<id:rule_id>/", api.RuleDetailView.as_view(), name="rule"),
]
