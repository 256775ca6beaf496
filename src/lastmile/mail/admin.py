from django import forms
from django.contrib import admin

from lastmile.mail.models import Attachment, EmailMessage, Mailbox
from lastmile.mail.parse import address_normalize


class MailboxForm(forms.ModelForm):
    class Meta:
        model = Mailbox
        fields = ("address", "name", "team", "active")

    def clean_address(self) -> str:
        address = address_normalize(self.cleaned_data["address"])
        if not address:
            raise forms.ValidationError("Enter an email address.")
        return address


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    """The addresses ``lastmile smtpd`` and the inbound webhook accept, and where they route."""

    form = MailboxForm
    list_display = ("address", "name", "team", "active")
    list_editable = ("active",)
    list_filter = ("active", "team")


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    can_delete = False
    fields = ("filename", "content_type", "size", "status", "reason")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(EmailMessage)
class EmailMessageAdmin(admin.ModelAdmin):
    """Read-only: mail is written by the receiver and by replies, never edited."""

    list_display = (
        "received_at",
        "direction",
        "from_address",
        "subject",
        "case",
        "threaded_by",
        "is_automated",
        "automated_reason",
    )
    list_filter = ("direction", "is_automated", "threaded_by")
    search_fields = ("message_id", "from_address", "subject")
    raw_id_fields = ("case", "interaction")
    inlines = [AttachmentInline]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
