"""Apps import only the apps below them: the dependency direction is one-way.

The order, bottom first. An app may import any app before it in this list, never one after
it, counting imports inside functions and under ``TYPE_CHECKING`` too (those hid the
cycles before). Project modules (``lastmile.urls``, ``lastmile.cli``, ``lastmile.settings``)
sit above every app; migrations are history and are not counted. A new app is added here,
in its place; an import that fails this test is a reason to move code, or to turn a call
into a domain event (``lastmile.core.events``) that the app above subscribes to, or into a
guard or grant it registers in its ``AppConfig.ready``.

Why cases sit below customers: a case only names its customer (the relation ``Case.customer``
declares), while customers use two rules of cases, which text is a case reference
(``cases_by_ref``, for ingested interactions) and which cases a viewer may open
(``cases_visible``, to withhold internal notes on the timeline). The case API shows a case
with its loops and takes a customer reference, so it lives in ``loops/cases_api.py``. Loops
sit above both: they react to customers' ``interaction.recorded`` event, refuse a case's
solving through the ``case.close`` guard, and show the case behind a loop to the loop's
team through a ``case.view`` grant.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lastmile

ORDER = [
    "core",
    "people",
    "sentiment",
    "api",
    "cases",
    "customers",
    "channels",
    "loops",
    "console",
    "webhooks",
    "mail",
    "listening",
    "crisis",
    "promises",
    "knowledge",
    "macros",
    "live",
    "search",
    "journeys",
    "funnels",
    "recovery",
    "invoices",
    "jobs",
    "feedback",
    "portal",
    "scorecards",
    "coaching",
    "training",
    "responders",
    "demo",
]

PACKAGE = Path(lastmile.__file__).parent


def app_dirs() -> list[str]:
    return sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())


def imported_apps(path: Path) -> set[tuple[str, int]]:
    """(app, line) for every ``lastmile.<app>`` module the file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "lastmile":
                names = [f"lastmile.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "lastmile" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


def upward_imports() -> list[str]:
    rank = {app: i for i, app in enumerate(ORDER)}
    bad = []
    for app in ORDER:
        for path in sorted((PACKAGE / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for other, line in sorted(imported_apps(path)):
                if other in rank and rank[other] > rank[app]:
                    bad.append(f"{path.relative_to(PACKAGE)}:{line} ({app}) imports {other}")
    return bad


def test_every_app_has_a_place_in_the_order():
    assert app_dirs() == sorted(ORDER)


def test_no_app_imports_an_app_above_it():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from lastmile.portal.services import x\n")
    assert imported_apps(module) == {("portal", 2)}


def test_the_readme_writes_the_same_order():
    readme = " ".join((PACKAGE.parents[1] / "README.md").read_text().split())
    assert ", ".join(f"`{app}`" for app in ORDER) in readme
