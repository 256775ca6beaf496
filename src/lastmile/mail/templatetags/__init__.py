"""Template tags of the mail app."""
