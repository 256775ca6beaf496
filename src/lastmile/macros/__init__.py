"""Macros: canned replies with placeholders that may also set a case's fields."""
