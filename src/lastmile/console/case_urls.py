"""Console URLs of case_views.py (included by console/urls.py, in its namespace)."""

from django.urls import path

from lastmile.console import case_views

urlpatterns: list = [
    path("cases/", case_views.case_lists, name="cases"),
    path("case-lists/bulk/", case_views.cases_bulk, name="cases_bulk"),
    path("case-lists/views/", case_views.saved_view_save, name="case_view_save"),
    path(
        "case-lists/views/<int:view_id>/delete/",
        case_views.saved_view_remove,
        name="case_view_delete",
    ),
    path("inbox/bulk/", case_views.inbox_bulk, name="inbox_bulk"),
    path("cases/<str:ref>/take/", case_views.case_take_view, name="case_take"),
    path("cases/<str:ref>/assign/", case_views.case_assign_view, name="case_assign"),
    path("cases/<str:ref>/move/", case_views.case_move_view, name="case_move"),
    path("cases/<str:ref>/priority/", case_views.case_priority_view, name="case_priority"),
    path("cases/<str:ref>/subject/", case_views.case_subject_view, name="case_subject"),
    path("cases/<str:ref>/tags/", case_views.case_tags_view, name="case_tags"),
]
