from django.urls import path

from lastmile.promises import views

app_name = "promises"

urlpatterns = [
    path("", views.index, name="index"),
    path("check/", views.check, name="check"),
    path("cases/<str:ref>/record/", views.case_record, name="case_record"),
    path("<int:promise_id>/", views.detail, name="detail"),
    path("<int:promise_id>/keep/", views.keep, name="keep"),
    path("<int:promise_id>/break/", views.break_, name="break"),
    path("<int:promise_id>/renegotiate/", views.renegotiate, name="renegotiate"),
    path("<int:promise_id>/approve/", views.exception_decide("approve"), name="approve"),
    path("<int:promise_id>/reject/", views.exception_decide("reject"), name="reject"),
]
