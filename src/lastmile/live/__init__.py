"""Working together: live updates, presence, typing, mentions and notifications."""
