from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from milestones.models import Mode
from portal.ops.selectors import SORTS, ListFilters
from shipments.api.serializers import STATUSES

LATE_CHOICES = [("", _("Any")), ("late", _("Late")), ("on_time", _("On time"))]


class ListFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label=_("Reference"))
    status = forms.ChoiceField(
        required=False,
        choices=[("", _("Any status")), *[(s, s.replace("_", " ")) for s in STATUSES]],
    )
    mode = forms.ChoiceField(required=False, choices=[("", _("Any mode")), *Mode.choices])
    carrier = forms.CharField(required=False, max_length=120)
    customer = forms.CharField(required=False, max_length=60)
    lane = forms.CharField(required=False, max_length=11, label=_("Lane"))
    late = forms.ChoiceField(required=False, choices=LATE_CHOICES)
    booked_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    booked_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    tag = forms.CharField(required=False, max_length=40)
    sort = forms.ChoiceField(required=False, choices=[(s, s) for s in SORTS])

    def filters(self) -> ListFilters:
        if not self.is_valid():
            return ListFilters()
        data = {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
        return ListFilters(**data)


class ManualMilestoneForm(forms.Form):
    milestone = forms.CharField(max_length=40)
    occurred_at = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    location = forms.CharField(required=False, max_length=5, label=_("UN/LOCODE"))
    reason = forms.CharField(max_length=500)


class CorrectForm(forms.Form):
    event = forms.IntegerField()
    action = forms.ChoiceField(choices=[("correct", _("Correct")), ("void", _("Void"))])
    occurred_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    reason = forms.CharField(max_length=500)


class UploadForm(forms.Form):
    file = forms.FileField()
    document_type = forms.CharField(required=False, max_length=40)


class MigrateForm(forms.Form):
    version = forms.IntegerField()
    reason = forms.CharField(max_length=500)


class BulkForm(forms.Form):
    ids = forms.CharField(max_length=20_000)  # public ids, comma-separated
    action = forms.ChoiceField(choices=[("tag", _("Tag")), ("milestone", _("Record milestone"))])
    tag = forms.CharField(required=False, max_length=40)
    milestone = forms.CharField(required=False, max_length=40)
    occurred_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    reason = forms.CharField(required=False, max_length=500)

    def public_ids(self) -> list[str]:
        return [p.strip() for p in self.cleaned_data["ids"].split(",") if p.strip()]
