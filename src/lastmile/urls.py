from importlib import import_module

from django.contrib import admin
from django.urls import include, path, re_path

from lastmile.api.api import api, api_not_found
from lastmile.core.metrics.views import metrics
from lastmile.core.views import favicon, healthz
from lastmile.jobs.onfleet import onfleet_hook

# Each app's API module and where its router is mounted on the one API, under /api/v1/.
API_ROUTERS = [
    ("customers", "lastmile.customers.api", "router"),
    ("interactions", "lastmile.customers.api", "interactions_router"),
    ("cases", "lastmile.loops.cases_api", "router"),
    ("cases", "lastmile.channels.messages_api", "router"),  # POST /cases/{ref}/messages
    ("loops", "lastmile.loops.api", "router"),
    ("mail", "lastmile.mail.api", "router"),
    ("webhooks", "lastmile.webhooks.api", "router"),
    ("mentions", "lastmile.listening.api", "router"),
    ("alerts", "lastmile.crisis.api", "router"),
    ("promises", "lastmile.promises.api", "router"),
    ("policies", "lastmile.promises.policies_api", "router"),
    ("knowledge", "lastmile.knowledge.api", "router"),
    ("journeys", "lastmile.journeys.api", "router"),
    ("search", "lastmile.search.api", "router"),
    ("funnels", "lastmile.funnels.api", "router"),
    ("recovery", "lastmile.recovery.api", "router"),
    ("invoices", "lastmile.invoices.api", "router"),
    ("jobs", "lastmile.jobs.api", "router"),
    ("", "lastmile.feedback.api", "router"),  # /surveys, /responses, /feedback
    ("scorecards", "lastmile.scorecards.api", "router"),
    ("qa", "lastmile.scorecards.qa_api", "router"),
    ("pay", "lastmile.scorecards.pay_api", "router"),
    ("coaching", "lastmile.coaching.api", "router"),
    ("training", "lastmile.training.api", "router"),
    ("responders", "lastmile.responders.api", "router"),
]
for prefix, module, name in API_ROUTERS:
    api.add_router(f"/v1/{prefix}", getattr(import_module(module), name))

admin.site.site_header = "lastmile administration"
admin.site.site_title = "lastmile"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),  # Prometheus, behind LASTMILE_METRICS_TOKEN
    path("favicon.ico", favicon, name="favicon"),
    path("v1/", include("lastmile.channels.segment_views")),  # Segment HTTP Tracking API
    path("api/", api.urls),
    re_path(r"^api/", api_not_found),  # unknown API paths answer in the API's error shape
    path("admin/", admin.site.urls),
    path("mail/", include("lastmile.mail.urls")),
    path("hooks/onfleet", onfleet_hook, name="onfleet_hook"),  # Onfleet task webhooks
    path("hooks/", include("lastmile.webhooks.urls")),
    path("listening/", include("lastmile.listening.urls")),
    path("", include("lastmile.crisis.urls")),  # /alerts/<id>/ and the public /status/<slug>
    path("promises/", include("lastmile.promises.urls")),
    path("kb/", include("lastmile.knowledge.urls")),
    path("journeys/", include("lastmile.journeys.urls")),
    path("funnels/", include("lastmile.funnels.urls")),
    path("recovery/", include("lastmile.recovery.urls")),
    path("jobs/", include("lastmile.jobs.urls")),
    path("feedback/", include("lastmile.feedback.urls")),
    path("portal/", include("lastmile.portal.urls")),
    path("scorecards/", include("lastmile.scorecards.urls")),
    path("coaching/", include("lastmile.coaching.urls")),
    path("training/", include("lastmile.training.urls")),
    path("responders/", include("lastmile.responders.urls")),
    path("search/", include("lastmile.search.urls")),
    path("live/", include("lastmile.live.urls")),
    path("macros/", include("lastmile.macros.urls")),
    path("demo/", include("lastmile.demo.urls")),  # the demo's reply sink (DEBUG only)
    path("", include("lastmile.console.urls")),
]
