"""The project's URLs with the demo's sink at /demo/, as lastmile.urls is to mount it
(``path("demo/", include("lastmile.demo.urls"))``); once it does, this adds nothing."""

from django.urls import include, path

from lastmile import urls as project

mounted = any(getattr(p, "namespace", None) == "demo" for p in project.urlpatterns)
urlpatterns = (
    list(project.urlpatterns)
    if mounted
    else [path("demo/", include("lastmile.demo.urls")), *project.urlpatterns]
)
