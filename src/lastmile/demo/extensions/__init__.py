"""Each product app's part of the seeded demo, one module per app, run by ``demo.seed`` in turn.

Every module has ``seed(seeder) -> list[str]``: it writes through that app's services at the
seeder's ``now`` and returns the lines the seed report prints.
"""
