from django.urls import include, path

from lastmile.console import views

app_name = "console"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("", views.inbox, name="inbox"),
    path("cases/<str:ref>/", views.case_detail, name="case"),
    path("cases/<str:ref>/thread/", views.case_thread, name="case_thread"),
    path("", include("lastmile.console.case_urls")),
    path("", include("lastmile.console.reply_urls")),
    path("", include("lastmile.console.merge_urls")),
    path("cases/<str:ref>/task/", views.case_task, name="case_task"),
    path("cases/<str:ref>/status/", views.case_status, name="case_status"),
    path(
        "cases/<str:ref>/loops/<int:loop_id>/close/",
        views.case_loop_action("close"),
        name="case_loop_close",
    ),
    path(
        "cases/<str:ref>/loops/<int:loop_id>/pause/",
        views.case_loop_action("pause"),
        name="case_loop_pause",
    ),
    path(
        "cases/<str:ref>/loops/<int:loop_id>/resume/",
        views.case_loop_action("resume"),
        name="case_loop_resume",
    ),
    path("customers/<int:customer_id>/", views.customer_detail, name="customer"),
    path(
        "customers/<int:customer_id>/timeline/", views.customer_timeline, name="customer_timeline"
    ),
    path(
        "customers/<int:customer_id>/loops/<int:loop_id>/close/",
        views.customer_loop_action("close"),
        name="customer_loop_close",
    ),
    path(
        "customers/<int:customer_id>/loops/<int:loop_id>/pause/",
        views.customer_loop_action("pause"),
        name="customer_loop_pause",
    ),
    path(
        "customers/<int:customer_id>/loops/<int:loop_id>/resume/",
        views.customer_loop_action("resume"),
        name="customer_loop_resume",
    ),
]
