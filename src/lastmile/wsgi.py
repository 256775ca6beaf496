import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lastmile.settings")
application = get_wsgi_application()

# What a worker has loaded by now (Django, and every app's views through the URLconf) lives
# as long as the process. Left to the collector, its oldest generation
# walks those ~150,000 objects again whenever a page's garbage piles up: a 60-90 ms pause
# every few seconds, the case page's p99 twice its p50 (bench: case_page_p99_ms). Frozen,
# they are never walked; what requests leave behind is collected as before.
get_resolver().url_patterns  # noqa: B018 (imports every view module now, not on first use)
gc.collect()
gc.freeze()
