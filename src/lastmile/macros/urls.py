"""The console's "My macros" pages, mounted at /macros/ by lastmile.urls."""

from django.urls import path

from lastmile.macros import views

app_name = "macros"

urlpatterns = [
    path("", views.macro_list, name="list"),
    path("new", views.macro_new, name="new"),
    path("<int:macro_id>/edit", views.macro_edit, name="edit"),
    path("<int:macro_id>/delete", views.macro_delete_page, name="delete"),
]
