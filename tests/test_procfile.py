"""Deployment drift: every Procfile target exists and imports."""
from __future__ import annotations

import importlib
import shlex
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, list[str]]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = shlex.split(command)
    return entries


def test_procfile_has_web_worker_and_intake():
    assert set(procfile()) == {"web", "worker", "intake"}


def test_web_target_imports_and_is_an_app_factory():
    argv = procfile()["web"]
    assert argv[0] == "gunicorn"
    config = argv[argv.index("--config") + 1].removeprefix("python:")
    importlib.import_module(config)
    module, call = argv[-1].split(":")
    factory = getattr(importlib.import_module(module), call.removesuffix("()"))
    assert callable(factory)
    assert shutil.which("gunicorn") or importlib.util.find_spec("gunicorn")


def test_worker_target_is_the_console_script():
    from click.testing import CliRunner

    from bot.cli import main
    argv = procfile()["worker"]
    assert argv[0] == "derechos"
    assert argv[1] in main.commands
    result = CliRunner().invoke(main, [argv[1], "--help"])
    assert result.exit_code == 0 and "replies" in result.output


def test_intake_target_is_the_console_script():
    from click.testing import CliRunner

    from bot.cli import main
    argv = procfile()["intake"]
    assert argv[:2] == ["derechos", "intake"]
    result = CliRunner().invoke(main, [*argv[1:], "--help"])
    assert result.exit_code == 0 and "handed over" in result.output


def test_ci_checks_the_content_then_runs_readme_test_command():
    """A broken content edit cannot land: .ci/run runs `derechos content check` before the tests, and
    its last line is README's test command, exactly."""
    import re
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    test_command = re.search(r"Run the tests:\n\n```sh\n(.+)\n```", readme).group(1)
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[-1] == test_command
    check = next(i for i, line in enumerate(lines) if "derechos content check" in line)
    assert check < len(lines) - 1
    assert "set -euo pipefail" in lines     # a failing check stops the run
