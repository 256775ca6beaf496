"""Tax rates in the admin, saved through the services (checked, audited); invoices and
payments are shown, never edited here (they are issued, paid and voided by the services)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from lastmile.core.clock import utcnow
from lastmile.invoices.models import Invoice, InvoiceLine, Payment, TaxRate
from lastmile.invoices.money import money_format
from lastmile.invoices.services import tax_rate_delete, tax_rate_save


class TaxRateForm(forms.ModelForm):
    class Meta:
        model = TaxRate
        fields = ("team", "rate_bp", "label")


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    """A team without a rate charges no tax."""

    form = TaxRateForm
    list_display = ("team", "rate_bp", "percent", "label", "updated_at")

    @admin.display(description="rate")
    def percent(self, obj: TaxRate) -> str:
        return f"{obj.rate_bp / 100:g} %"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        tax_rate_save(rate=obj, actor=request.user, now=utcnow())  # type: ignore[arg-type]

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        tax_rate_delete(rate=obj, actor=request.user, now=utcnow())  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    fields = ("position", "sku", "description", "quantity", "unit_price_shown", "total_shown")
    readonly_fields = ("unit_price_shown", "total_shown")

    @admin.display(description="unit price")
    def unit_price_shown(self, obj: InvoiceLine) -> str:
        return money_format(obj.unit_price, obj.invoice.currency)

    @admin.display(description="total")
    def total_shown(self, obj: InvoiceLine) -> str:
        return money_format(obj.total, obj.invoice.currency)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(ReadOnly):
    list_display = (
        "number",
        "customer",
        "team",
        "total_shown",
        "state",
        "send_status",
        "issued_at",
    )
    list_filter = ("state", "send_status", "team", "currency")
    search_fields = ("number", "source")
    raw_id_fields = ("customer", "case")
    exclude = ("link_token_hash",)
    inlines = [LineInline]

    @admin.display(description="total", ordering="total")
    def total_shown(self, obj: Invoice) -> str:
        return money_format(obj.total, obj.currency)


@admin.register(Payment)
class PaymentAdmin(ReadOnly):
    list_display = ("reference", "invoice", "amount_shown", "method", "outcome", "at")
    list_filter = ("outcome", "method")
    search_fields = ("reference", "invoice__number")
    raw_id_fields = ("invoice", "followup_loop")

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, obj: Payment) -> str:
        return money_format(obj.amount, obj.currency)
