"""Prometheus metrics at ``/metrics`` (prometheus-client's text format), behind a token.

- ``http``: the request counter and latency histogram, labelled by the URL pattern's route
  (never the raw path), the method and the status class, kept by ``MetricsMiddleware``; the
  counter of interactions written to the timeline (the ingest rate).
- ``collector``: gauges read from the database and the queue at scrape time (loops open,
  due and breached; outbox and webhook deliveries pending and failed; queue depth and the
  age of its oldest task).
- ``queue``: the huey serializer that stamps each queued message with when it was queued,
  so the age of the oldest task can be read.
- ``views``: the ``/metrics`` endpoint (``LASTMILE_METRICS_TOKEN``) and the registry it
  reads: prometheus-client's multiprocess collector when ``PROMETHEUS_MULTIPROC_DIR`` is
  set (several gunicorn processes), the process's own registry otherwise.

This package is imported by ``settings`` (``queue``): its ``__init__`` imports nothing.
"""
