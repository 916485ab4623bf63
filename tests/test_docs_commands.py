"""Every command the guides tell people to run works exactly as written (issue 14): the code blocks of
content/README.md (both languages) and of README's organizer section are run in a shell, as an editor
or an organizer would type them; every `derechos ...` the guides name in passing is a real command."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(text: str) -> list[list[str]]:
    """The fenced blocks whose lines are shell commands for `derechos` (other blocks are YAML, output)."""
    blocks = []
    for body in FENCE.findall(text):
        lines = [line for line in body.splitlines() if line.strip()]
        if lines and all(re.match(r"(export \w+=|\w+=\$\(derechos |derechos )", line) for line in lines):
            blocks.append(lines)
    return blocks


def section(text: str, title: str) -> str:
    start = text.index(title)
    following = text.find("\n## ", start + len(title))
    return text[start:following if following > 0 else len(text)]


def shell_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    content = tmp_path / "content"
    if not content.exists():
        shutil.copytree(ROOT / "content", content)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "DERECHOS_")) and k not in ("DATA_KEY", "PUBLIC_URL")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}", CONTENT_DIR=str(content),
               INSTANCE_DIR=str(tmp_path / "instance"), REDIS_URL=redis_url, NO_PROXY="127.0.0.1,localhost")
    return env


def run_line(line: str, env: dict[str, str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          timeout=120)


GUIDE = (ROOT / "content" / "README.md").read_text(encoding="utf-8")
EDITOR_LINES = [(lang, line) for lang, title in (("en", "## English"), ("es", "## Español"))
                for block in code_blocks(section(GUIDE, title)) for line in block]


def test_the_guides_have_commands_to_run():
    assert len([1 for lang, _ in EDITOR_LINES if lang == "en"]) >= 8
    assert len([1 for lang, _ in EDITOR_LINES if lang == "es"]) >= 8


def command_of(line: str) -> str:
    """The command a guide's line runs, without its trailing comment (which each guide translates)."""
    return line.split("  #", 1)[0].strip()


@pytest.mark.slow
def test_every_command_of_the_editors_guides_runs_as_written(tmp_path, redis_url, redis):
    """In order, in one folder: the translation commands export the file the import then reads. A
    command both guides give (only their comments differ) is run once."""
    env = shell_env(tmp_path, redis_url)
    done: set[str] = set()
    for lang in ("en", "es"):
        for guide_lang, line in EDITOR_LINES:
            if guide_lang != lang or command_of(line) in done:
                continue
            done.add(command_of(line))
            result = run_line(line, env, tmp_path)
            assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            assert "Traceback" not in result.stderr, line


@pytest.mark.slow
def test_the_organizer_section_runs_as_written(tmp_path, redis_url, redis):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = code_blocks(section(readme, "## Organizers"))
    (tmp_path / "lista.csv").write_text("telefono,idioma,etiquetas\n+1 312 555 0141,es,chicago\n"
                                        "+1 312 555 0142,en,chicago\nnot a number,es,chicago\n", encoding="utf-8")
    env = shell_env(tmp_path, redis_url)
    worker = subprocess.Popen([str(BIN / "derechos"), "worker"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = time.monotonic()
        result = run_line("set -euo pipefail\n" + "\n".join(block), env, tmp_path, stdin="y\n")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "line 4" in out and "rejected and not imported" in out      # what the README says an import does
    assert "imported 2 new" in out
    assert "Derechos. STOP para salir" in out and "Derechos. Reply STOP to end" in out
    assert "sent" in out and "no open requests" in out
    assert time.monotonic() - started < 100
    import json
    audit = json.loads(subprocess.run([str(BIN / "python"), "-c", "import json, redis, os;"
                                       "r = redis.Redis.from_url(os.environ['REDIS_URL']);"
                                       "print(json.dumps([json.loads(x) for x in r.lrange('derechos:audit', 0, -1)]))"],
                                      env=env, capture_output=True, text=True).stdout)
    assert {entry["who"] for entry in audit} == {"maria"}


MENTION = re.compile(r"`(derechos [^`]+)`")


@pytest.mark.parametrize("path", ["README.md", "content/README.md"])
def test_every_command_the_guides_name_exists(path):
    """`derechos content preview TOPIC --lang L ...` in a sentence or a table names a real command and
    real options (placeholders in capitals stand for values)."""
    import click
    text = (ROOT / path).read_text(encoding="utf-8")
    for block in FENCE.findall(text):
        text = text.replace(block, "")
    mentions = MENTION.findall(text)
    assert mentions
    for mention in mentions:
        words = shlex.split(mention.replace("\\|", "|"))[1:]
        command, used = main, []
        while words and isinstance(command, click.Group):
            name = words[0].split("|")[0]
            if name.startswith("-"):
                break
            assert name in command.commands, f"{path}: `{mention}`: no command '{' '.join(used + [name])}'"
            command, used, words = command.commands[name], used + [name], words[1:]
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        options |= {"--help", "--version"}
        for word in words:
            if word.startswith("--"):
                assert word.split("=")[0] in options, f"{path}: `{mention}`: no option {word}"
