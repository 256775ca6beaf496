"""Tests of working together: live updates, presence, mentions and notifications."""
