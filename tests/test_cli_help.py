"""Every command's --help says what it does and gives one example (issue 14)."""
from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from bot.cli import main


def commands(group: click.Group = main, path: tuple[str, ...] = ()):
    yield path, group
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, path + (name,))
        else:
            yield path + (name,), command


ALL = list(commands())


@pytest.mark.parametrize("path,command", ALL, ids=[" ".join(p) or "derechos" for p, _ in ALL])
def test_help_says_what_it_does_and_gives_an_example(path, command):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    description = (command.help or "").strip()
    assert len(description.split()) >= 4, f"derechos {' '.join(path)}: no description"
    assert re.search(r"Examples?:", result.output), f"derechos {' '.join(path)}: no example"
    example = re.split(r"Examples?:", result.output, maxsplit=1)[1].strip().splitlines()[0].strip()
    assert ("derechos " + " ".join(path)).strip() in example, example
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden and not param.is_flag and param.name != "help":
            assert param.help or param.metavar, f"derechos {' '.join(path)} {param.opts[0]}: no help"


def test_the_version():
    from importlib.metadata import version
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"derechos {version('derechos')}"
