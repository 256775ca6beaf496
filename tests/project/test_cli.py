"""The `lastmile` command. Each command's help, and one token, come from a real subprocess
like an operator's (exit code, the token alone on stdout); the other cases run the command
in this process with click's runner, which keeps stdout and stderr apart as well, on the
test's database without a second interpreter starting Django."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from lastmile.api.models import ApiToken
from lastmile.cli import main
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
    ["digest", "send"],
    ["rollups", "rebuild"],
    ["qa", "autoreview"],
    ["backup"],
    ["restore"],
    ["mentions", "import"],
    ["mentions", "process"],
    ["sentiment", "score"],
    ["sentiment", "process"],
]


def run(*args: str) -> Result:
    """``lastmile ARGS`` in this process (stdout and stderr apart, as click 8.2+ keeps them)."""
    return CliRunner().invoke(main, list(args))


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


@pytest.mark.django_db
def test_token_create_twice_with_one_name_is_a_clear_error():
    assert run("token", "create", "crm").exit_code == 0
    again = run("token", "create", "crm")
    assert again.exit_code != 0 and "exists" in again.stderr and again.stdout == ""
    assert ApiToken.objects.filter(name="crm").count() == 1


@pytest.mark.django_db
def test_createagent_makes_a_login_in_its_teams():
    result = run(
        "createagent", "maya", "--password", "s3cret-pass", "--team", "cards", "--role", "lead"
    )
    assert result.exit_code == 0, result.stderr
    agent = Agent.objects.get(user__username="maya")
    assert agent.role == "lead" and [t.slug for t in agent.teams.all()] == ["cards"]
    assert agent.user.check_password("s3cret-pass")


@pytest.mark.django_db
def test_createagent_refuses_an_existing_username_without_update():
    assert run("createagent", "maya", "--password", "x").exit_code == 0
    result = run("createagent", "maya", "--password", "y")
    assert result.exit_code != 0 and "already taken" in result.stderr
    assert Agent.objects.get(user__username="maya").user.check_password("x")


@pytest.mark.parametrize("value", ["abc", "70000", "0"])
def test_serve_refuses_a_nonsense_port_from_the_environment_before_starting(value):
    result = CliRunner().invoke(main, ["serve"], env={"LASTMILE_PORT": value})
    assert result.exit_code == 2
    assert "--port" in result.output and value in result.output
