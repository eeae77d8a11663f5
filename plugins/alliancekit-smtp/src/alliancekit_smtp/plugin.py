"""The entry-point plugin: registers an e-mail channel configured from ``ALLIANCEKIT_SMTP_*``, if set."""

from __future__ import annotations

from alliancekit import hookimpl
from alliancekit.notify.channels import ChannelRegistrar
from alliancekit_smtp import SMTPChannel, SMTPConfig


@hookimpl
def alliancekit_register_notifiers(register: ChannelRegistrar) -> None:
    config = SMTPConfig.from_env()
    if config is not None:
        register(SMTPChannel(config))
