"""Console URLs of case_views.py (included by console/urls.py, in its namespace)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
