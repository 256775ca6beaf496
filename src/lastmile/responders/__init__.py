"""Guarded responders: staff outside the support teams enrolled to answer social mentions and
simple cases within limits, every reply checked and audited."""
