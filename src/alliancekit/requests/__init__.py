"""Measures the client fills in: administration requests (links), kiosk codes, and what submitting returns.

The flows live on the facade (:meth:`~alliancekit.Practice.request_administration`,
:meth:`~alliancekit.Practice.kiosk_code`, :meth:`~alliancekit.Practice.open_request`,
:meth:`~alliancekit.Practice.redeem_kiosk_code`, :meth:`~alliancekit.Practice.submit_response`); this package
holds their settings and results, and the token and code rules (:mod:`.tokens`).
"""

from alliancekit.requests.config import RequestConfig
from alliancekit.requests.types import AdministrationRequest, KioskCode, RequestForm, Submission

__all__ = ["AdministrationRequest", "KioskCode", "RequestConfig", "RequestForm", "Submission"]
