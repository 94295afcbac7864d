"""Async client for the WhatConverts lead-tracking API.

Example::

    from datetime import date
    from whatconverts_async import WhatConverts

    async with WhatConverts("token", "secret", key_type="master") as wc:
        async for lead in wc.leads.iterate(start_date=date(2024, 1, 1)):
            print(lead.lead_id, lead.lead_type, lead.date_created)

The API simulator for tests lives in :mod:`whatconverts_async.testing`.
"""

import logging as _logging
import os as _os

from ._headers import Headers
from .budget import FastClock, LocalQuota, Quota, SystemClock
from .client import DEFAULT_BASE_URL, APIResponse, KeyType, RequestTally, WhatConverts
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CertificateError,
    CheckpointError,
    ExportError,
    FilterNotAppliedError,
    InvalidParameterError,
    KeyTypeError,
    MalformedResponseError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    QuotaExhaustedError,
    QuotaUnavailableError,
    RateLimitError,
    ServerError,
    UpdateNotAppliedError,
    WebhookError,
    WhatConvertsError,
)
from .models import (
    Account,
    Lead,
    LeadStatus,
    LeadType,
    Page,
    Profile,
    Quotable,
    Role,
    TrackingForm,
    TrackingNumber,
    User,
)
from .pagination import PageStream
from .retry import RetryPolicy
from .scan import Window, split_windows

__version__ = "0.1.0"

# A library adds no handler of its own (so nothing reaches stderr unless the application
# configures logging); WHATCONVERTS_LOG=debug|info|warning turns on a stderr handler, the way
# OPENAI_LOG does for openai-python.
_logger = _logging.getLogger("whatconverts_async")
_logger.addHandler(_logging.NullHandler())
_level = _os.environ.get("WHATCONVERTS_LOG", "").strip().upper()
if _level in ("DEBUG", "INFO", "WARNING", "ERROR"):
    _handler = _logging.StreamHandler()
    _handler.setFormatter(_logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    _logger.addHandler(_handler)
    _logger.setLevel(_level)

__all__ = [
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "APIError",
    "APIResponse",
    "APITimeoutError",
    "Account",
    "AuthenticationError",
    "BadRequestError",
    "CertificateError",
    "CheckpointError",
    "ExportError",
    "FastClock",
    "FilterNotAppliedError",
    "Headers",
    "InvalidParameterError",
    "KeyType",
    "KeyTypeError",
    "Lead",
    "LeadStatus",
    "LeadType",
    "LocalQuota",
    "MalformedResponseError",
    "NotFoundError",
    "Page",
    "PageStream",
    "PaginationError",
    "PermissionDeniedError",
    "Profile",
    "Quota",
    "QuotaExhaustedError",
    "QuotaUnavailableError",
    "Quotable",
    "RateLimitError",
    "RequestTally",
    "RetryPolicy",
    "Role",
    "ServerError",
    "SystemClock",
    "TrackingForm",
    "TrackingNumber",
    "UpdateNotAppliedError",
    "User",
    "WebhookError",
    "WhatConverts",
    "WhatConvertsError",
    "Window",
    "__version__",
    "split_windows",
]
