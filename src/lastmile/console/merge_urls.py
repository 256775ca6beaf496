"""Console URLs of merge_views.py (included by console/urls.py, in its namespace)."""

from django.urls import path

from lastmile.console import merge_views

urlpatterns = [
    path(
        "customers/<int:customer_id>/merges/",
        merge_views.customer_merges,
        name="customer_merges",
    ),
    path(
        "customers/<int:customer_id>/merge/",
        merge_views.customer_merge_into,
        name="customer_merge",
    ),
    path(
        "customers/<int:customer_id>/merge/find/",
        merge_views.customer_merge_find,
        name="customer_merge_find",
    ),
    path(
        "customers/<int:customer_id>/merge/confirm/",
        merge_views.customer_merge_confirm,
        name="customer_merge_confirm",
    ),
    path(
        "customers/merges/<int:merge_id>/undo/",
        merge_views.customer_merge_undo,
        name="customer_merge_undo",
    ),
]
