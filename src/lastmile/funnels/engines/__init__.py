"""Engines that answer a funnel definition over the columnar copy of the events."""
