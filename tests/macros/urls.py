"""The project's URLs with the "My macros" pages at /macros/, as lastmile.urls is to mount
them (``path("macros/", include("lastmile.macros.urls"))``); once it does, this adds
nothing and the tests use the project's own URLs unchanged."""

from django.urls import include, path

from lastmile import urls as project

mounted = any(getattr(p, "namespace", None) == "macros" for p in project.urlpatterns)
urlpatterns = (
    list(project.urlpatterns)
    if mounted
    else [path("macros/", include("lastmile.macros.urls")), *project.urlpatterns]
)
