"""Configuration: validated at start-up, one line naming the bad variable."""
from __future__ import annotations

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
