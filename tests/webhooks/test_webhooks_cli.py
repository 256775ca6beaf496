"""`lastmile integration`, run as a real subprocess like an operator would."""

from __future__ import annotations

import pytest

from lastmile.webhooks.models import Integration
from tests.cli import lastmile
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_integration_list_never_shows_secrets(cli_env):
    lastmile(cli_env, "integration", "create", "Chat", "--channel", "chat")

    result = lastmile(cli_env, "integration", "list")

    assert result.returncode == 0
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
def test_bad_options_fail_with_a_message_and_create_nothing(args, message, cli_env):
    result = lastmile(cli_env, "integration", "create", *args)

    assert result.returncode != 0 and result.stdout == ""
    assert message in result.stderr
    assert Integration.objects.count() == 0


def test_a_name_already_taken_is_refused(cli_env):
    assert lastmile(cli_env, "integration", "create", "Shop", "--channel", "sms").returncode == 0

    result = lastmile(cli_env, "integration", "create", "Shop", "--channel", "chat")

    assert result.returncode == 1 and "name" in result.stderr and "exists" in result.stderr
    assert Integration.objects.count() == 1
