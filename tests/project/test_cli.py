"""The `lastmile` command, run as a real subprocess like an operator would."""

from __future__ import annotations

import pytest

from lastmile.api.models import ApiToken
from lastmile.core.ids import token_hash
from lastmile.people.models import Agent
from tests.cli import lastmile

COMMANDS = [
    [],
    ["serve"],
    ["worker"],
    ["migrate"],
    ["seed-demo"],
    ["analytics-copy"],
    ["createagent"],
    ["token", "create"],
    ["sweep"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "lastmile")
def test_every_command_has_help(command, cli_env):
    result = lastmile(cli_env, *command, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout
    assert len(result.stdout.splitlines()) > 3


@pytest.mark.django_db(transaction=True)
def test_token_create_prints_the_token_alone_and_stores_only_its_hash(cli_env):
    result = lastmile(cli_env, "token", "create", "crm")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and token.startswith("lm_")
    assert ApiToken.objects.get(name="crm").token_hash == token_hash(token)


@pytest.mark.django_db(transaction=True)
def test_token_create_twice_with_one_name_is_a_clear_error(cli_env):
    lastmile(cli_env, "token", "create", "crm")
    again = lastmile(cli_env, "token", "create", "crm")
    assert again.returncode != 0 and "exists" in again.stderr and again.stdout == ""


@pytest.mark.django_db(transaction=True)
def test_createagent_makes_a_login_in_its_teams(cli_env):
    result = lastmile(
        cli_env,
        "createagent",
        "maya",
        "--password",
        "s3cret-pass",
        "--team",
        "cards",
        "--role",
        "lead",
    )
    assert result.returncode == 0, result.stderr
    agent = Agent.objects.get(user__username="maya")
    assert agent.role == "lead" and [t.slug for t in agent.teams.all()] == ["cards"]
    assert agent.user.check_password("s3cret-pass")


@pytest.mark.django_db(transaction=True)
def test_createagent_refuses_an_existing_username_without_update(cli_env):
    lastmile(cli_env, "createagent", "maya", "--password", "x")
    result = lastmile(cli_env, "createagent", "maya", "--password", "y")
    assert result.returncode != 0 and "already taken" in result.stderr


@pytest.mark.parametrize("value", ["abc", "70000", "0"])
def test_serve_refuses_a_nonsense_port_from_the_environment_before_starting(value):
    from click.testing import CliRunner

    from lastmile.cli import main

    result = CliRunner().invoke(main, ["serve"], env={"LASTMILE_PORT": value})
    assert result.exit_code == 2
    assert "--port" in result.output and value in result.output
