from django.urls import path

from lastmile.mail import views

app_name = "mail"

urlpatterns = [
    path("<int:email_id>/", views.email_detail, name="email"),
    path("<int:email_id>/raw/", views.email_raw, name="email_raw"),
    path("attachments/<int:attachment_id>/", views.attachment_download, name="attachment"),
]
