from django.urls import path

from lastmile.crisis import views

app_name = "crisis"

urlpatterns = [
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/<int:alert_id>/", views.alert_room, name="room"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="acknowledge"),
    path("alerts/<int:alert_id>/resolve/", views.alert_resolve, name="resolve"),
    path("alerts/<int:alert_id>/mentions/", views.alert_bulk, name="bulk"),
    path("alerts/<int:alert_id>/note/", views.note_create, name="note_create"),
    path("alerts/<int:alert_id>/note/updates/", views.note_update, name="note_update"),
    path(
        "alerts/<int:alert_id>/note/updates/<int:update_id>/publish/",
        views.note_update_publish,
        name="note_update_publish",
    ),
    path("alerts/<int:alert_id>/note/unpublish/", views.note_unpublish, name="note_unpublish"),
    # Public, no login: linked from replies ("we know, here is what we are doing").
    path("status/<str:slug>", views.status_page, name="status"),
    path("status/<str:slug>/", views.status_page),
]
