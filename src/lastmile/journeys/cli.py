"""`lastmile journeys`: load journey templates from YAML or JSON files, export them."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def journeys() -> None:
    """Journey templates."""


@journeys.command("load")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def journeys_load(files: tuple[Path, ...]) -> None:
    """Create or update templates from FILES (.yaml, .yml or .json); none: the shipped ones.

    Each file is one template. Sending the same definition again changes nothing; a changed
    one becomes a new version. Any error names the file, the field and the reason, and that
    file writes nothing.
    """
    from lastmile.cli import _django, _fail

    _django()
    from lastmile.core.clock import utcnow
    from lastmile.core.errors import DomainError
    from lastmile.journeys.catalog import catalog_definitions
    from lastmile.journeys.definitions import from_yaml
    from lastmile.journeys.services import template_save

    docs: list[tuple[str, object]] = [("shipped", d) for d in catalog_definitions()]
    if files:
        docs = []
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
                doc = json.loads(text) if path.suffix.lower() == ".json" else from_yaml(text)
            except (ValueError, DomainError) as exc:
                detail = exc.detail if isinstance(exc, DomainError) else str(exc)
                raise click.ClickException(f"{path}: {detail}") from None
            docs.append((str(path), doc))
    for name, doc in docs:
        try:
            template, outcome = template_save(definition=doc, now=utcnow())
        except DomainError as exc:
            click.echo(f"{name}:", err=True)
            _fail(exc)
        click.echo(f"{outcome:<9} {template.slug} (v{template.version}): {template.name}")


@journeys.command("export")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of YAML.")
def journeys_export(slug: str, as_json: bool) -> None:
    """Print template SLUG as the YAML (or JSON) document `load` reads."""
    from lastmile.cli import _django, _fail

    _django()
    from lastmile.core.errors import DomainError
    from lastmile.journeys.definitions import template_export, to_yaml
    from lastmile.journeys.selectors import template_get

    try:
        doc = template_export(template_get(slug=slug))
    except DomainError as exc:
        _fail(exc)
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False) if as_json else to_yaml(doc), nl=False)
