"""Coaching: a lesson for the agent and a coaching task for the lead when a QA review falls
below target, a promise is broken or the agent let a loop breach."""
