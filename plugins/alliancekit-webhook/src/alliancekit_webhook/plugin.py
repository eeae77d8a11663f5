"""The entry-point plugin: registers a webhook channel configured from ``ALLIANCEKIT_WEBHOOK_*``, if set."""

from __future__ import annotations

from alliancekit import hookimpl
from alliancekit.notify.channels import ChannelRegistrar
from alliancekit_webhook import WebhookChannel, WebhookConfig


@hookimpl
def alliancekit_register_notifiers(register: ChannelRegistrar) -> None:
    config = WebhookConfig.from_env()
    if config is not None:
        register(WebhookChannel(config))
