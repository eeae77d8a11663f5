"""Notifications: outbox messages written with the fact, a dispatcher, and the channels that deliver them.

* :mod:`alliancekit.notify.outbox` derives the messages from a command's events (one pure function);
* :mod:`alliancekit.notify.channels` is what a channel is, and the registry the
  ``alliancekit_register_notifiers`` hook fills;
* :mod:`alliancekit.notify.dispatcher` claims due messages, calls the channels with a time limit, and
  records the outcome with back-off and a dead-letter state;
* :mod:`alliancekit.notify.deadline` bounds a whole reply of a channel's server, for channels that talk
  over a socket;
* :mod:`alliancekit.notify.tls` tells a TLS failure that a setting causes (permanent) from the rest.
"""

from alliancekit.notify.channels import Channel, ChannelRegistrar, DeliveryError, NotifierRegistry
from alliancekit.notify.dispatcher import CHANNEL_TIMEOUT, DispatchPolicy, DispatchSummary
from alliancekit.notify.outbox import ALL_KINDS, DEFAULT_KINDS, Notification, Subscriptions, messages_for

__all__ = [
    "ALL_KINDS",
    "CHANNEL_TIMEOUT",
    "DEFAULT_KINDS",
    "Channel",
    "ChannelRegistrar",
    "DeliveryError",
    "DispatchPolicy",
    "DispatchSummary",
    "Notification",
    "NotifierRegistry",
    "Subscriptions",
    "messages_for",
]
