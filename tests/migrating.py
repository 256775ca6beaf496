"""Migrating the test database back and forth, for the tests of data migrations.

Unapplying, Django's executor first works out the project state before each migration to
unapply by walking the whole forward plan from the first of them to the last with one
rendered state, re-rendering the models each step touches and every model related to them
(``_migrate_all_backwards``). Unapplying an early migration of a central app (loops 0003,
with dozens of applied migrations of every app after it) spent most of its time there:
about 15 s of an 18 s test on one core. ``Executor`` works out the same states, each from the
applied migrations before it in the same plan, in the same order, and renders each once:
the same migrations are unapplied with the same states, in the same order.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


class Executor(MigrationExecutor):
    def _migrate_all_backwards(self, plan, full_plan, fake):  # type: ignore[no-untyped-def]
        applied = {
            self.loader.graph.nodes[key]
            for key in self.loader.applied_migrations
            if key in self.loader.graph.nodes
        }
        order = [migration for migration, _ in full_plan]
        # (``plan`` lists them last first: each is unapplied before those it depends on)
        for migration, _ in plan:
            # The state before it: every migration still applied that the full plan
            # applies before it, as Django's first pass makes it.
            state = self._create_project_state()
            for earlier in order[: order.index(migration)]:
                if earlier in applied:
                    earlier.mutate_state(state, preserve=False)
            state.apps  # noqa: B018 - rendered once; each operation's state is a clone of it
            self.unapply_migration(state, migration, fake=fake)
            applied.remove(migration)
        state = self._create_project_state()
        for migration in order:
            if migration in applied:
                migration.mutate_state(state, preserve=False)
        return state


def migrate(targets, apps: set[str] | None = None) -> Any:  # type: ignore[no-untyped-def]
    """Migrate to ``targets`` and return the models as they are there; with ``apps``, only
    those apps' migrations are unapplied (later migrations of other apps that depend on
    them keep their tables, which the tests here do not touch)."""
    executor = Executor(connection)
    executor.loader.build_graph()
    plan = executor.migration_plan(targets)
    if apps is not None:
        plan = [
            (migration, backwards) for migration, backwards in plan if migration.app_label in apps
        ]
    executor.migrate(targets, plan=plan)
    return executor.loader.project_state(targets).apps


def leaf_nodes() -> list[tuple[str, str]]:
    """The last migration of every app: where the test database was."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()
