"""Configuration: validated at start-up, one line naming the bad variable."""
from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from bot.config import Config
from bot.errors import ConfigError

SID = "AC" + "1" * 32


def test_defaults_are_safe_for_development():
    config = Config.from_env({})
    assert config.dry_run and config.redis_url is None
    assert config.state_ttl_days == 30 and config.sms_fold


@pytest.mark.parametrize("env,variable", [
    ({"TWILIO_ACCOUNT_SID": SID}, "TWILIO_AUTH_TOKEN"),
    ({"TWILIO_AUTH_TOKEN": "x" * 32}, "TWILIO_ACCOUNT_SID"),
    ({"TWILIO_ACCOUNT_SID": "nope", "TWILIO_AUTH_TOKEN": "x"}, "TWILIO_ACCOUNT_SID"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
    ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
    ({"PUBLIC_URL": "bot.example.org"}, "PUBLIC_URL"),
    ({"PUBLIC_URL": "https://"}, "PUBLIC_URL"),
    ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "x", "TWILIO_SMS_FROM": "+15550000",
      "DATA_KEY": "a" * 44}, "PUBLIC_URL"),
    ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "x", "PUBLIC_URL": "https://b.org"},
     "TWILIO_MESSAGING_SERVICE_SID"),
    ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "x", "PUBLIC_URL": "https://b.org",
      "TWILIO_SMS_FROM": "+15550000"}, "DATA_KEY"),
    ({"DATA_KEY": "short"}, "DATA_KEY"),
    ({"TWILIO_WHATSAPP_FROM": "12345"}, "TWILIO_WHATSAPP_FROM"),
    ({"ADMIN_TOKEN": "abc"}, "ADMIN_TOKEN"),
    ({"STATE_TTL_DAYS": "0"}, "STATE_TTL_DAYS"),
    ({"SMS_FOLD": "maybe"}, "SMS_FOLD"),
    ({"CONTENT_DIR": "/does/not/exist"}, "CONTENT_DIR"),
])
def test_bad_configuration_names_the_variable(env, variable):
    with pytest.raises(ConfigError) as caught:
        Config.from_env(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


PRODUCTION = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "x" * 32, "PUBLIC_URL": "https://b.org",
              "TWILIO_SMS_FROM": "+15550000", "DATA_KEY": base64.b64encode(b"k" * 32).decode(),
              "SECRET_KEY": "s" * 40}


def test_production_needs_the_programs_own_help_line():
    """No consulate and no placeholder as the help line real people are told to call (issue 11)."""
    with pytest.raises(ConfigError) as caught:
        Config.from_env(PRODUCTION)
    assert caught.value.variable == "DERECHOS_HELP_LINE" and "never a consulate" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        Config.from_env({**PRODUCTION, "DERECHOS_HELP_LINE": "<HELP-LINE>"})
    assert "placeholder" in str(caught.value)
    assert Config.from_env({**PRODUCTION, "DERECHOS_HELP_LINE": "1-800-555-0100"}).settings["help_line"] == \
        "1-800-555-0100"
    assert "help_line" not in Config.from_env({}).settings    # development shows content's visible placeholder
    result = subprocess.run([sys.executable, "-m", "bot.cli", "config"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", **PRODUCTION})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "DERECHOS_HELP_LINE" in result.stderr


def test_settings_come_from_derechos_variables():
    config = Config.from_env({"DERECHOS_HELP_LINE": "+1 555 0100"})
    assert config.settings == {"help_line": "+1 555 0100"}


def test_cli_stops_with_one_line_naming_the_variable():
    result = subprocess.run([sys.executable, "-m", "bot.cli", "config"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "TWILIO_ACCOUNT_SID": SID})
    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- `derechos config` (issue 14): one notation, the settings in use, where each value came from ---

def test_config_shows_every_value_with_its_source(monkeypatch):
    import json

    from click.testing import CliRunner

    from bot.cli import main
    for name in ("REDIS_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "DATA_KEY", "CONTENT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADMIN_TOKEN", "s3cret-token-0123456789")
    monkeypatch.setenv("DERECHOS_HELP_LINE", "+1 312 555 0100")
    monkeypatch.setenv("DERECHOS_HELP_HOURS_EN", "9 to 5")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "None" not in out and "(unset)" not in out and "settings = {}" not in out
    assert "s3cret" not in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["ADMIN_TOKEN"].split()[1:] == ["environment", "set"]
    assert "default" in lines["REDIS_URL"] and "embedded Redis" in lines["REDIS_URL"]
    assert "default" in lines["TWILIO_ACCOUNT_SID"] and "dry-run" in lines["TWILIO_ACCOUNT_SID"]
    assert "DERECHOS_HELP_LINE" in lines["help_line"] and "+1 312 555 0100" in lines["help_line"]
    assert "content/settings.yml" in lines["org_name"]
    hours = [line.split() for line in out.splitlines() if line.strip().startswith("help_hours")]
    assert ["help_hours", "es", "content/settings.yml", "<HORARIO>"] == hours[0][:4]
    assert ["help_hours", "en", "DERECHOS_HELP_HOURS_EN", "9", "to", "5"] == hours[1]
    data = json.loads(CliRunner().invoke(main, ["config", "--json"]).output)
    assert {"variable": "ADMIN_TOKEN", "value": "set", "source": "environment"} in data["environment"]
    assert {"setting": "help_line", "lang": "", "value": "+1 312 555 0100", "source": "DERECHOS_HELP_LINE"} \
        in data["settings"]
