"""Every write of the crisis app, one module per part of it.

- ``triggers``: the detectors fed bucket by bucket from their stored state, and their
  sensitivity.
- ``alerts``: raising an alert when a detector fires (evidence, acknowledgement loop, the
  lead's notification), acknowledging and resolving it.
- ``room``: the crisis room's bulk actions on an alert's mentions, and saved responses.
- ``incidents``: public incident notes (``/status/<slug>``) and their audit trail.
"""
