"""The CLI's contract: --help on every subcommand, exit 2 on bad arguments and bad input."""

from __future__ import annotations

import json

import pytest

from affectllm.cli import build_parser, main


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_subcommand_has_help(capsys):
    names = _subcommands()
    assert {"tiny-model", "env"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: affectllm" in capsys.readouterr().out


def test_bad_arguments_exit_2(cli):
    assert cli("no-such-command").returncode == 2
    result = cli("tiny-model", "/tmp/x", "--arch", "gpt2")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_input_error_exits_2_with_message(tmp_path, cli):
    """Bad input reaches the user as one line naming the file and the reason, exit 2."""
    missing = tmp_path / "nope.yaml"
    result = cli("run", str(missing))
    assert result.returncode == 2
    assert f"{missing}: file not found" in result.stderr
    assert "Traceback" not in result.stderr
    from affectllm.errors import InputError
    from affectllm.models import model_type_of

    with pytest.raises(InputError, match="no config.json"):
        model_type_of(str(tmp_path))


def test_env_json(cli):
    result = cli("env", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["packages"]["transformers"].startswith("5.")
    assert "vllm" in info["optional"]


def test_help_pages_show_no_rst_markup():
    import argparse

    from affectllm.cli import build_parser

    def pages(parser):
        yield parser.prog, parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from pages(sub)

    found = dict(pages(build_parser()))
    assert len(found) > 10 and "affectllm score" in found
    assert [prog for prog, text in found.items() if "``" in text] == []
