"""An operator's wrong ``ALLIANCEKIT_WEBHOOK_*`` setting is named, with its rule, where the host reports the
plugin it left out: before, the report said only "raised ValueError while registering", which left the
operator guessing which setting to fix. No value is ever in the words: a URL's password or token, the
secret."""

from __future__ import annotations

import pytest
from alliancekit_webhook import WebhookConfig, plugin

from alliancekit.errors import ValidationError
from alliancekit.plugins.manager import make_plugin_host

GOOD = {"ALLIANCEKIT_WEBHOOK_URL": "https://hooks.clinic.test/ak", "ALLIANCEKIT_WEBHOOK_SECRET": "s" * 16}
SECRETS = ("HookPW99", "QTOKEN77", "tooSHORTsecret", "zz9", "/nowhere/ca")


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"ALLIANCEKIT_WEBHOOK_URL": "https://hook:HookPW99@h.test/ak?t=QTOKEN77"}, "URL: credentials"),
        ({"ALLIANCEKIT_WEBHOOK_URL": "http://h.test/ak?t=QTOKEN77"}, "URL: https"),
        ({"ALLIANCEKIT_WEBHOOK_URL": "ftp://h.test/QTOKEN77"}, "URL: url"),
        ({"ALLIANCEKIT_WEBHOOK_SECRET": "tooSHORTsecret"}, "SECRET: length"),  # 14 characters
        ({"ALLIANCEKIT_WEBHOOK_SECRET": "whsec_tooSHORTsecret!"}, "SECRET: base64"),
        ({"ALLIANCEKIT_WEBHOOK_TIMEOUT": "zz9"}, "TIMEOUT: positive"),
        ({"ALLIANCEKIT_WEBHOOK_TIMEOUT": "0"}, "TIMEOUT: positive"),
        ({"ALLIANCEKIT_WEBHOOK_CA_FILE": "/nowhere/ca"}, "CA_FILE: ca-file"),
    ],
)
def test_a_refused_setting_is_named_by_the_host_without_its_value(
    monkeypatch: pytest.MonkeyPatch, changed: dict[str, str], named: str
) -> None:
    env = GOOD | changed
    with pytest.raises(ValidationError) as refused:
        WebhookConfig.from_env(env)
    assert str(refused.value).startswith(f"ALLIANCEKIT_WEBHOOK_{named}")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    registry = make_plugin_host(load_entry_points=False, extra_plugins=[plugin]).notifiers()
    assert registry.names() == []
    [(_, what)] = registry.problems
    assert what.startswith(f"raised ValidationError while registering: ALLIANCEKIT_WEBHOOK_{named}")
    assert not [secret for secret in SECRETS if secret in what]


def test_the_boundary_settings_are_accepted() -> None:
    """Sixteen characters of secret, and a timeout just above nothing, register."""
    config = WebhookConfig.from_env(GOOD | {"ALLIANCEKIT_WEBHOOK_TIMEOUT": "0.001"})
    assert config is not None
    assert config.timeout == 0.001
    with pytest.raises(ValidationError, match="SECRET: length"):
        WebhookConfig.from_env(GOOD | {"ALLIANCEKIT_WEBHOOK_SECRET": "s" * 15})
