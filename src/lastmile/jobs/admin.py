"""Slots in the admin, checked by the services' rule (``services.slot_check``: each bad
field named), with their bookings counted; jobs and the changes made on site are shown,
never edited (their state moves only through ``jobs.services``, with the loops and the
trail)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from lastmile.core.errors import InvalidInput
from lastmile.invoices.models import Invoice
from lastmile.invoices.money import money_format
from lastmile.jobs.models import BOOKED_STATES, Job, JobChange, JobEvent, JobLine, Proof, Slot
from lastmile.jobs.services import slot_check, tracking_url


class SlotForm(forms.ModelForm):
    class Meta:
        model = Slot
        fields = ("team", "starts_at", "ends_at", "capacity", "cutoff_minutes")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            slot_check(
                team=data.get("team"),
                starts_at=data.get("starts_at"),
                ends_at=data.get("ends_at"),
                capacity=data.get("capacity"),
            )
        except InvalidInput as exc:
            for e in exc.errors:
                if e.field in self.fields and e.field not in self.errors:
                    self.add_error(e.field, e.reason)
        if self.instance.pk and data.get("capacity") is not None:
            booked = self.instance.jobs.filter(state__in=BOOKED_STATES).count()
            if data["capacity"] < booked:
                self.add_error("capacity", f"{booked} jobs are booked in this slot already")
        return data


@admin.register(Slot)
class SlotAdmin(admin.ModelAdmin):
    form = SlotForm
    list_display = ("team", "starts_at", "ends_at", "capacity", "booked", "cutoff_minutes")
    list_filter = ("team",)
    date_hierarchy = "starts_at"
    ordering = ("starts_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Slot]:
        return (
            super()
            .get_queryset(request)
            .select_related("team")
            .annotate(n_booked=Count("jobs", filter=Q(jobs__state__in=BOOKED_STATES)))
        )

    @admin.display(description="booked", ordering="n_booked")
    def booked(self, slot: Slot) -> int:
        return slot.n_booked  # type: ignore[attr-defined,no-any-return]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class JobLineInline(ReadOnlyInline):
    model = JobLine
    fields = ("position", "sku", "description", "quantity", "unit_price", "currency")


class ProofInline(ReadOnlyInline):
    model = Proof
    fields = ("kind", "at", "actor", "content_hash")


def _money(minor: int, currency: str) -> str:
    return money_format(minor, currency) if currency else str(minor)


def _lines_words(lines: list[dict[str, Any]], currency: str) -> str:
    return "; ".join(
        f"{line['quantity']} × {line['description']} "
        f"({_money(line['quantity'] * line['unit_price'], currency)})"
        for line in lines
    )


class ChangeShown:
    """What the admin shows of an on-site change: the lines and totals before and after."""

    @admin.display(description="before")
    def lines_before(self, change: JobChange) -> str:
        total = _money(change.total_before, change.currency)
        return f"{_lines_words(change.before, change.currency)} = {total}"

    @admin.display(description="after")
    def lines_after(self, change: JobChange) -> str:
        total = _money(change.total_after, change.currency)
        return f"{_lines_words(change.after, change.currency)} = {total}"

    @admin.display(description="price")
    def price(self, change: JobChange) -> str:
        before = _money(change.total_before, change.currency)
        return f"{before} → {_money(change.total_after, change.currency)}"


class JobChangeInline(ChangeShown, ReadOnlyInline):
    model = JobChange
    fields = (
        "ref",
        "state",
        "lines_before",
        "lines_after",
        "consent",
        "proposed_by",
        "proposed_at",
        "decided_by",
        "decided_at",
    )
    readonly_fields = ("lines_before", "lines_after")


@admin.register(JobChange)
class JobChangeAdmin(ChangeShown, admin.ModelAdmin):
    """Every change proposed on site, and how the customer answered."""

    list_display = ("job", "ref", "state", "price", "consent", "proposed_by", "proposed_at")
    list_filter = ("state", "consent")
    list_select_related = ("job", "proposed_by")
    date_hierarchy = "proposed_at"
    fields = (
        "job",
        "ref",
        "state",
        "lines_before",
        "lines_after",
        "price",
        "note",
        "proposed_by",
        "proposed_at",
        "consent",
        "consent_hash",
        "decided_by",
        "decided_at",
        "decline_reason",
    )
    readonly_fields = ("lines_before", "lines_after", "price")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class JobEventInline(ReadOnlyInline):
    model = JobEvent
    fields = ("kind", "at", "actor", "data")


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "state", "customer", "team", "assignee", "window_start")
    list_filter = ("state", "kind", "team")
    search_fields = ("address", "customer__display_name")
    date_hierarchy = "window_start"
    list_select_related = ("customer", "team", "assignee")
    inlines = (JobLineInline, JobChangeInline, ProofInline, JobEventInline)
    exclude = ("tracking_token", "pin", "invoice")
    readonly_fields = ("tracking_link", "invoice_link")

    @admin.display(description="Tracking page")
    def tracking_link(self, job: Job) -> str:
        url = tracking_url(job)
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    @admin.display(description="Invoice")
    def invoice_link(self, job: Job) -> str:
        invoice = job.invoice if isinstance(job.invoice, dict) else None
        if not invoice or not isinstance(invoice.get("id"), int):
            return "—"
        words = f"{invoice.get('number', '')} · " + money_format(
            int(invoice.get("total") or 0), str(invoice.get("currency") or "")
        )
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{} (PDF)</a>',
            Invoice(pk=invoice["id"]).pdf_path,
            words,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
