"""The reference host app for alliancekit (issue 13): a client fills in a measure from a link or a kiosk
code; a clinician sees the attention list, an episode's scores, alerts and progress chart. See README.md.
"""

from alliancekit_webapp.app import create_app
from alliancekit_webapp.proxies import server_options
from alliancekit_webapp.state import Settings

__all__ = ["Settings", "create_app", "server_options"]
