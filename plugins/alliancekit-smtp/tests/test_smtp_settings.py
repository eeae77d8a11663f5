"""An operator's wrong ``ALLIANCEKIT_SMTP_*`` setting is named, with its rule, where the host reports the
plugin it left out: before, the report said only "raised ValueError while registering", which left the
operator guessing which of the required settings was missing. No value is ever in the words."""

from __future__ import annotations

import pytest
from alliancekit_smtp import SMTPConfig, plugin

from alliancekit.errors import ValidationError
from alliancekit.plugins.manager import make_plugin_host

GOOD = {
    "ALLIANCEKIT_SMTP_HOST": "127.0.0.1",
    "ALLIANCEKIT_SMTP_FROM": "alerts@clinic.test",
    "ALLIANCEKIT_SMTP_TO": "oncall@clinic.test",
}
SECRETS = ("SmtpPW77", "x25", "ssl3", "zz9", "/nowhere/ca", "{client}")


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"ALLIANCEKIT_SMTP_FROM": ""}, "FROM: required"),
        ({"ALLIANCEKIT_SMTP_TO": " , "}, "TO: required"),
        ({"ALLIANCEKIT_SMTP_PORT": "x25"}, "PORT: integer"),
        ({"ALLIANCEKIT_SMTP_SECURITY": "ssl3"}, "SECURITY: enum"),
        ({"ALLIANCEKIT_SMTP_TIMEOUT": "zz9"}, "TIMEOUT: positive"),
        ({"ALLIANCEKIT_SMTP_LINK": "https://ehr.test/{client}"}, "LINK: fields"),
        ({"ALLIANCEKIT_SMTP_CA_FILE": "/nowhere/ca"}, "CA_FILE: ca-file"),
        (
            {
                "ALLIANCEKIT_SMTP_SECURITY": "none",
                "ALLIANCEKIT_SMTP_USERNAME": "alerts",
                "ALLIANCEKIT_SMTP_PASSWORD": "SmtpPW77",
            },
            "USERNAME: plaintext-login",
        ),
    ],
)
def test_a_refused_setting_is_named_by_the_host_without_its_value(
    monkeypatch: pytest.MonkeyPatch, changed: dict[str, str], named: str
) -> None:
    env = GOOD | changed
    with pytest.raises(ValidationError) as refused:
        SMTPConfig.from_env(env)
    assert str(refused.value).startswith(f"ALLIANCEKIT_SMTP_{named}")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    registry = make_plugin_host(load_entry_points=False, extra_plugins=[plugin]).notifiers()
    assert registry.names() == []
    [(_, what)] = registry.problems
    assert what.startswith(f"raised ValidationError while registering: ALLIANCEKIT_SMTP_{named}")
    assert not [secret for secret in SECRETS if secret in what]


def test_the_settings_it_needs_register() -> None:
    config = SMTPConfig.from_env(
        GOOD | {"ALLIANCEKIT_SMTP_PORT": "2525", "ALLIANCEKIT_SMTP_SECURITY": "none"}
    )
    assert config is not None
    assert config.effective_port == 2525
