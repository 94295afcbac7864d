"""Async client for the WhatConverts lead-tracking API.

Example::

    from datetime import date
    from whatconverts_async import WhatConverts

    async with WhatConverts("token", "secret", key_type="master") as wc:
        async for lead in wc.leads.iterate(start_date=date(2024, 1, 1)):
            print(lead.lead_id, lead.lead_type, lead.date_created)

The API simulator for tests lives in :mod:`whatconverts_async.testing`.
"""

from .budget import FastClock, LocalQuota, Quota, SystemClock
from .client import DEFAULT_BASE_URL, KeyType, WhatConverts
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CheckpointError,
    ExportError,
    FilterNotAppliedError,
    InvalidParameterError,
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

__all__ = [
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "Account",
    "AuthenticationError",
    "BadRequestError",
    "CheckpointError",
    "ExportError",
    "FastClock",
    "FilterNotAppliedError",
    "InvalidParameterError",
    "KeyType",
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
