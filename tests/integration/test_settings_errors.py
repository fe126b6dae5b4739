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
