"""A refused setting is named as the operator set it, one line each: the environment
variable or the option, what was wrong and what was given (it was pydantic's dump, which
named the field and linked to pydantic's site)."""

from __future__ import annotations

from click.testing import CliRunner

from soldout.cli import cli


def test_each_refused_setting_is_one_line_naming_its_variable_or_option() -> None:
    env = {"SOLDOUT_LOG_LEVEL": "loud", "SOLDOUT_PUBLIC_URL": "shop.example.com"}
    result = CliRunner().invoke(cli, ["serve", "--port", "99999"], env=env)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    said = "\n".join(lines)
    assert "SOLDOUT_LOG_LEVEL: Input should be 'critical'" in said
    assert "(given 'loud')" in said
    assert "--port: Input should be less than or equal to 65535 (given 99999)" in said
    assert "SOLDOUT_PUBLIC_URL:" in said
    assert "pydantic" not in said
    assert "validation error" not in said


def test_an_owner_port_is_refused_where_there_is_no_owner_apart() -> None:
    alone = CliRunner().invoke(cli, ["serve", "--owner-port", "9001"])
    assert alone.exit_code == 2
    assert "--owner-port needs --workers" in alone.output
    bad = CliRunner().invoke(cli, ["serve", "--workers", "2", "--owner-port", "0"])
    assert bad.exit_code == 2
    assert "'--owner-port': 0 is not in the range 1<=x<=65535" in bad.output
