"""Billing models: rate cards and their charge lines, charge rules bound to milestones, the
charges they create (with evidence), invoices with gap-free numbers, carrier-invoice
reconciliation. Every table is tenant-owned (tenancy.rls puts it under row-level security).

Amounts are ``Decimal`` (billing.money): rates carry up to 6 decimals, stored charge and
invoice amounts are rounded to the currency's minor unit (max 3 decimals: KWD).
"""

from __future__ import annotations

import secrets

from django.db import models
from django.utils.timezone import now

from shipments.models import PUBLIC_ID_ALPHABET, Shipment
from tenancy.models import CustomerAccount, TenantOwned, User


def _money(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=18, decimal_places=3, **kwargs)


def _rate(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=18, decimal_places=6, **kwargs)


class Direction(models.TextChoices):
    REVENUE = "revenue", "Revenue (to the customer)"
    COST = "cost", "Cost (from the carrier)"


class Basis(models.TextChoices):
    SHIPMENT = "shipment", "Per shipment"
    KG = "kg", "Per kg"
    CONTAINER = "container", "Per container"
    STOP = "stop", "Per stop"
    DAY = "day", "Per day"


class Proration(models.TextChoices):
    """How a partial day of a time-based charge counts."""

    EXACT = "exact", "Exact share of the day"
    STARTED_DAY = "started_day", "Each started day counts in full"


class RateCard(TenantOwned):
    """The tenant's prices; for one customer account, or for every customer (null)."""

    name = models.CharField(max_length=120)
    customer_account = models.ForeignKey(
        CustomerAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class ChargeLine(TenantOwned):
    """One price of a rate card: what, on which basis, how much, when and for which shipments
    (blank conditions match every shipment; a lane is ``ORIGIN-DESTINATION`` UN/LOCODEs, either
    side may be ``*``)."""

    rate_card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="lines")
    code = models.CharField(max_length=40)  # charge type: freight, customs_clearance, demurrage
    description = models.CharField(max_length=200)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.REVENUE)
    basis = models.CharField(max_length=12, choices=Basis.choices, default=Basis.SHIPMENT)
    amount = _rate()
    currency = models.CharField(max_length=3)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=0)  # percent
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)
    mode = models.CharField(max_length=16, blank=True)
    lane = models.CharField(max_length=13, blank=True)
    service = models.CharField(max_length=60, blank=True)
    carrier = models.CharField(max_length=120, blank=True)
    # Time-based lines (basis day): free time and how partial days count.
    free_days = models.DecimalField(max_digits=6, decimal_places=2, default=0)
    proration = models.CharField(max_length=12, choices=Proration.choices, default=Proration.EXACT)

    class Meta:
        ordering = ["rate_card_id", "code", "id"]

    def __str__(self) -> str:
        return f"{self.code} {self.amount} {self.currency}/{self.basis}"


class Trigger(models.TextChoices):
    MILESTONE = "milestone", "Milestone becomes actual"
    EXCEPTION = "exception", "Exception of a type opens"
    DWELL = "dwell", "Dwell exceeds free time"


class ChargeRule(TenantOwned):
    """When to charge a line: a milestone becomes actual, an exception opens (through the
    workflow action "charge"), or the time from ``milestone`` to ``end_milestone`` exceeds the
    line's free days (one charge per local calendar day beyond it)."""

    charge_line = models.ForeignKey(ChargeLine, on_delete=models.CASCADE, related_name="rules")
    trigger = models.CharField(max_length=12, choices=Trigger.choices, default=Trigger.MILESTONE)
    milestone = models.CharField(max_length=40, blank=True)
    end_milestone = models.CharField(max_length=40, blank=True)
    exception_type = models.CharField(max_length=60, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.trigger}:{self.milestone or self.exception_type} -> {self.charge_line_id}"


class ShipmentMeasure(TenantOwned):
    """What per-kg/container/stop charges count (set by ops or integrations); without one a
    shipment counts its container references and its legs' stops, and 0 kg."""

    shipment = models.OneToOneField(Shipment, on_delete=models.CASCADE, related_name="+")
    weight_kg = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    containers = models.PositiveIntegerField(null=True, blank=True)
    stops = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"measures of {self.shipment_id}"


class ChargeKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    CREDIT = "credit", "Credit line"


class ChargeStatus(models.TextChoices):
    ACCRUED = "accrued", "Accrued"
    INVOICED = "invoiced", "Invoiced"
    CREDITED = "credited", "Credited"


class Charge(TenantOwned):
    """Money owed for a shipment (revenue) or expected from its carrier (cost).

    ``idempotency_key`` is unique per tenant: ``<rule>:<shipment>:<period>`` (period ``once``
    for a milestone, the local date for a time-based day, ``firing-<id>`` for an exception),
    ``#r<n>`` appended for the n-th re-issue after a credit. A charge is never changed in
    substance: a voided or corrected milestone gets a credit line (kind credit, negative
    amount, ``reverses`` the charge) and, if still due, a new charge.
    """

    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(
        ChargeRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    charge_line = models.ForeignKey(
        ChargeLine, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer_account = models.ForeignKey(
        CustomerAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    carrier = models.CharField(max_length=120, blank=True)
    kind = models.CharField(max_length=8, choices=ChargeKind.choices, default=ChargeKind.CHARGE)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    code = models.CharField(max_length=40)
    description = models.CharField(max_length=200)
    period = models.CharField(max_length=40)
    quantity = models.DecimalField(max_digits=14, decimal_places=4)
    unit_amount = _rate()
    amount = _money()
    currency = models.CharField(max_length=3)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    status = models.CharField(
        max_length=10, choices=ChargeStatus.choices, default=ChargeStatus.ACCRUED
    )
    idempotency_key = models.CharField(max_length=120)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="credited_by"
    )
    is_reversed = models.BooleanField(default=False)
    evidence = models.JSONField(default=dict, blank=True)
    accrued_at = models.DateTimeField()  # when the triggering fact happened
    accrued_on = models.DateField()  # its local date: the accounting period it belongs to
    created_at = models.DateTimeField(default=now)
    invoice = models.ForeignKey(
        "Invoice", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["accrued_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="charge_idempotency_uniq"
            ),
            # At most one live charge per shipment, rule and period, even under races.
            models.UniqueConstraint(
                fields=["tenant", "shipment", "rule", "period"],
                condition=models.Q(kind="charge", is_reversed=False),
                name="charge_live_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "shipment"], name="charge_shipment_idx"),
            models.Index(
                fields=["tenant", "customer_account", "accrued_on"], name="charge_customer_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.code} {self.amount} {self.currency}"


def new_invoice_id() -> str:
    return "inv_" + "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(16))


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CREDIT_NOTE = "credit_note", "Credit note"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ISSUED = "issued", "Issued"


class InvoiceCounter(TenantOwned):
    """The next number of a series; issuing locks this row, so numbers have no gaps."""

    series = models.CharField(max_length=20)
    next_number = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "series"], name="invoice_counter_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.series} next {self.next_number}"


class Invoice(TenantOwned):
    """A draft (editable, no number) or an issued invoice (immutable: a trigger refuses any
    change, migration 0002). A credit note is an invoice of kind credit_note."""

    public_id = models.CharField(max_length=24, default=new_invoice_id, editable=False)
    kind = models.CharField(max_length=12, choices=InvoiceKind.choices, default=InvoiceKind.INVOICE)
    status = models.CharField(
        max_length=8, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    customer_account = models.ForeignKey(
        CustomerAccount, on_delete=models.PROTECT, related_name="+"
    )
    currency = models.CharField(max_length=3)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    series = models.CharField(max_length=20, default="INV")
    sequence = models.PositiveIntegerField(null=True, blank=True)
    number = models.CharField(max_length=40, blank=True)
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    credits = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_notes"
    )
    net_total = _money(default=0)
    tax_total = _money(default=0)
    total = _money(default=0)
    created_at = models.DateTimeField(default=now)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "public_id"], name="invoice_public_id_uniq"),
            models.UniqueConstraint(
                fields=["tenant", "series", "sequence"],
                condition=models.Q(sequence__isnull=False),
                name="invoice_number_uniq",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.public_id}"


class InvoiceLine(TenantOwned):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    charge = models.ForeignKey(
        Charge, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shipment_reference = models.CharField(max_length=80, blank=True)
    code = models.CharField(max_length=40)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=14, decimal_places=4)
    unit_amount = _rate()
    net_amount = _money()
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    tax_amount = _money()
    total = _money()

    class Meta:
        ordering = ["invoice_id", "position"]

    def __str__(self) -> str:
        return f"{self.position}. {self.description}"


class MatchResult(models.TextChoices):
    MATCHED = "matched", "Matched"
    OVER = "over", "Over (billed more than expected)"
    UNDER = "under", "Under (billed less than expected)"
    UNEXPECTED = "unexpected", "Unexpected (no expected cost)"


class Decision(models.TextChoices):
    OPEN = "open", "Open"
    ACCEPTED = "accepted", "Accepted"
    DISPUTED = "disputed", "Disputed"


class CarrierInvoice(TenantOwned):
    """A carrier's invoice as imported, with the column mapping used."""

    carrier = models.CharField(max_length=120, blank=True)
    reference = models.CharField(max_length=80, blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    mapping = models.JSONField(default=dict)
    imported_at = models.DateTimeField(default=now)
    imported_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-imported_at", "-id"]

    def __str__(self) -> str:
        return f"{self.carrier} {self.reference}"


class CarrierInvoiceLine(TenantOwned):
    carrier_invoice = models.ForeignKey(
        CarrierInvoice, on_delete=models.CASCADE, related_name="lines"
    )
    row = models.PositiveIntegerField()
    shipment_reference = models.CharField(max_length=120)
    charge_code = models.CharField(max_length=40, blank=True)
    description = models.CharField(max_length=200, blank=True)
    amount = _money()
    currency = models.CharField(max_length=3)
    shipment = models.ForeignKey(
        Shipment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    matched_reference = models.CharField(max_length=120, blank=True)
    match_score = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    expected_charge = models.ForeignKey(
        Charge, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expected_amount = _money(null=True, blank=True)
    variance = _money(default=0)
    result = models.CharField(max_length=12, choices=MatchResult.choices)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.OPEN)
    dispute_evidence = models.JSONField(default=dict, blank=True)
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["carrier_invoice_id", "row"]

    def __str__(self) -> str:
        return f"row {self.row}: {self.shipment_reference} {self.amount}"


class ExportKind(models.TextChoices):
    CHARGES = "charges", "Charges"
    JOURNAL = "journal", "Journal"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


def export_upload_to(job: ExportJob, filename: str) -> str:
    # A random part: file names are never guessable, even by someone reading the storage.
    return f"billing/exports/{job.tenant_id}/{job.pk}-{secrets.token_hex(8)}-{filename}"


class ExportJob(TenantOwned):
    """A charges or journal export written by a Celery task (billing.tasks.export_run), in
    chunks, with its progress (``done`` of ``total`` charges) and, when done, the file in
    Django's default storage (downloaded only through /finance/exports/<id>/download/, never
    from a public URL). ``filters``: ``{"period_start", "period_end", "customer", "status"}``
    as for ``GET /api/v1/billing/charges/export/`` (ISO dates, a customer account id)."""

    kind = models.CharField(max_length=8, choices=ExportKind.choices)
    format = models.CharField(max_length=4, choices=ExportFormat.choices)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to=export_upload_to, max_length=255, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="export_job_recent_idx")]

    def __str__(self) -> str:
        return f"{self.kind}.{self.format} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        return min(100, round(100 * self.done / self.total)) if self.total else 0

    @property
    def file_name(self) -> str:
        return f"{self.kind}-{self.pk}.{self.format}"
