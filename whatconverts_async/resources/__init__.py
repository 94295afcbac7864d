"""API resources: each turns arguments into wire parameters and answers into models."""

from .accounts import AccountsResource
from .leads import LeadsResource
from .other import RolesResource, TrackingResource, UsersResource
from .profiles import ProfilesResource
from .recordings import RecordingsResource

__all__ = [
    "AccountsResource",
    "LeadsResource",
    "ProfilesResource",
    "RecordingsResource",
    "RolesResource",
    "TrackingResource",
    "UsersResource",
]
