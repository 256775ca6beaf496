"""Scorecards: outcome metrics per agent and team for a period, each with one written
definition and traceable to the loops, promises and reviews it was computed from."""
