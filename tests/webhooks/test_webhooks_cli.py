"""`lastmile integration`. Creating one runs a real subprocess like an operator's (exit code,
the secret alone on stdout, the rest on stderr); the other cases run the command in this
process with click's runner, which keeps stdout and stderr apart as well."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from lastmile.cli import main
from lastmile.webhooks.models import Integration
from tests.cli import lastmile
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> Result:
    """``lastmile ARGS`` in this process (stdout and stderr apart, as click 8.2+ keeps them)."""
    return CliRunner().invoke(main, list(args))


@pytest.mark.django_db(transaction=True)
def test_integration_create_prints_the_secret_alone_on_stdout(cli_env):
    TeamFactory(name="Front office", slug="front")

    result = lastmile(
        cli_env,
        "integration",
        "create",
        "Shop SMS",
        "--channel",
        "sms",
        "--url",
        "https://gateway.example.com/out",
        "--team",
        "front",
    )

    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    assert result.stdout == secret + "\n" and secret.startswith("whsec_")
    row = Integration.objects.get()
    assert (row.name, row.slug, row.channel, row.url, row.team.slug) == (
        "Shop SMS",
        "shop-sms",
        "sms",
        "https://gateway.example.com/out",
        "front",
    )
    assert row.secret == secret and "/hooks/in/shop-sms" in result.stderr


def test_integration_list_never_shows_secrets():
    assert run("integration", "create", "Chat", "--channel", "chat").exit_code == 0

    result = run("integration", "list")

    assert result.exit_code == 0
    assert result.stdout.split("\t")[:2] == ["chat", "chat"]
    assert Integration.objects.get().secret not in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["Shop", "--channel", "pigeon"], "Invalid value for '--channel'"),
        (["Shop"], "Missing option '--channel'"),
        (["Shop", "--channel", "sms", "--url", "ftp://x"], "url"),
        (["Shop", "--channel", "sms", "--team", "nope"], "no team 'nope'"),
        (["Shop", "--channel", "sms", "--slug", "Not A Slug"], "slug"),
    ],
)
def test_bad_options_fail_with_a_message_and_create_nothing(args, message):
    result = run("integration", "create", *args)

    assert result.exit_code != 0 and result.stdout == ""
    assert message in result.stderr
    assert Integration.objects.count() == 0


def test_a_name_already_taken_is_refused():
    assert run("integration", "create", "Shop", "--channel", "sms").exit_code == 0

    result = run("integration", "create", "Shop", "--channel", "chat")

    assert result.exit_code == 1 and "name" in result.stderr and "exists" in result.stderr
    assert Integration.objects.count() == 1
