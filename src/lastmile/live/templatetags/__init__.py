"""Template tags of working together."""
