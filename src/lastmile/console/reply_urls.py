"""Console URLs of replies.py (included by console/urls.py, in its namespace)."""

from django.urls import path

from lastmile.console import replies

urlpatterns = [
    path("cases/<str:ref>/reply/", replies.case_reply, name="case_reply"),
    path("cases/<str:ref>/note/", replies.case_note, name="case_note"),
]
