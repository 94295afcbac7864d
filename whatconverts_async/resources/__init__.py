"""API resources: each turns arguments into wire parameters and answers into models."""

from .accounts import AccountsResource
from .leads import LeadsResource
from .profiles import ProfilesResource
from .recordings import RecordingsResource
from .roles import RolesResource
from .tracking import TrackingResource
from .users import UsersResource

__all__ = [
    "AccountsResource",
    "LeadsResource",
    "ProfilesResource",
    "RecordingsResource",
    "RolesResource",
    "TrackingResource",
    "UsersResource",
]
