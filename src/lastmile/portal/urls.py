from django.urls import path

from lastmile.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("start/<str:token>/", views.start, name="start"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("send-link/<int:customer_id>/", views.send_link, name="send_link"),
    path("titles/<str:ref>/", views.case_title, name="case_title"),
    path("cases/<str:ref>/", views.case_detail, name="case"),
    path("cases/<str:ref>/message/", views.case_message, name="case_message"),
    path("journeys/<int:journey_id>/steps/<slug:key>/", views.step, name="step"),
    path("uploads/<int:journey_id>/<slug:key>/", views.upload_view, name="upload"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("surveys/<int:invite_id>/", views.survey, name="survey"),
    path("help/", views.help_index, name="help"),
    path("help/<slug:slug>/", views.article, name="article"),
]
