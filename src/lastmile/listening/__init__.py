"""Social listening: sentiment of texts and anomaly triggers over mention volumes.

The Django app (mentions, alerts, crisis room) comes later; these packages are pure Python
and load without Django, so the CLI commands start fast.
"""
