"""The simulator's directory: accounts, profiles, users, roles, tracking numbers and forms.

Everything of one simulated master account except its leads. Generated from the seed
(:meth:`Directory.generate`) and changed by the API's account, profile and user calls.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from .generator import _AREAS, _FIRST, _FORM_NAMES, _LAST, _PHONE_NAMES
from .vocabulary import format_timestamp

__all__ = ["Directory"]


@dataclass
class _Profile:
    profile_id: int
    profile_name: str
    account_id: int
    date_created: int


@dataclass
class _Account:
    account_id: int
    account_name: str
    date_created: int
    profile_ids: list[int] = field(default_factory=list)


class Directory:
    """Accounts, profiles, users, roles and tracking of one simulated master account.

    ``profile_order`` lists every profile id ever created, in creation order (the
    generated leads' profile column indexes it). ``users``, ``roles``, ``numbers``
    and ``forms`` hold the dicts as the API returns them.
    """

    def __init__(self, salt: int) -> None:
        self._salt = salt
        self._accounts: dict[int, _Account] = {}
        self._profiles: dict[int, _Profile] = {}
        self.profile_order: list[int] = []
        #: User dicts as the API returns them, by ``user_id``.
        self.users: dict[int, dict[str, Any]] = {}
        #: Role dicts as the API returns them, by ``role_id``.
        self.roles: dict[int, dict[str, Any]] = {}
        #: Tracking-number dicts as the API returns them, in id order.
        self.numbers: list[dict[str, Any]] = []
        #: Tracking-form dicts as the API returns them, in id order.
        self.forms: list[dict[str, Any]] = []
        self._next_id = itertools.count(1)

    def generate(self, n_accounts: int, per_account: int, start_ts: int) -> None:
        """Fill an empty directory: accounts, profiles, roles, users, numbers and forms,
        all created about 400 days before ``start_ts`` (epoch seconds)."""
        rng = random.Random(self._salt ^ 0xACC0)
        names = [
            "Acme Dental", "Blue Ridge Plumbing", "Queen City Roofing", "Northwind Law",
            "Sunrise Pediatrics", "Metro Auto Glass", "Harbor Realty", "Summit HVAC",
        ]  # fmt: skip
        profile_names = ["Main site", "Landing pages", "Google Ads", "Second location"]
        account_id = 70_000 + rng.randrange(1_000)
        profile_id = 80_000 + rng.randrange(1_000)
        created = start_ts - 400 * 86_400
        for a in range(n_accounts):
            account_id += rng.randrange(1, 50)
            base = names[a % len(names)]
            name = base if a < len(names) else f"{base} {a // len(names) + 1}"
            acct = _Account(account_id, name, created + a * 3_600)
            self._accounts[account_id] = acct
            for p in range(per_account):
                profile_id += rng.randrange(1, 50)
                pname = profile_names[p % len(profile_names)]
                if p >= len(profile_names):
                    pname = f"{pname} {p // len(profile_names) + 1}"
                self._profiles[profile_id] = _Profile(
                    profile_id, pname, account_id, acct.date_created + p * 60
                )
                acct.profile_ids.append(profile_id)
                self.profile_order.append(profile_id)
        self._make_roles_users(rng, created)
        self._make_tracking(rng, created)

    def _make_roles_users(self, rng: random.Random, created: int) -> None:
        role_specs = [
            ("master_account_role", "Administrator"),
            ("master_account_role", "Manager"),
            ("master_account_role", "Read Only"),
            ("account_role", "Account Admin"),
            ("account_role", "Account User"),
        ]
        role_id = 500 + rng.randrange(100)
        for role_type, role_name in role_specs:
            role_id += 1
            self.roles[role_id] = {
                "role_id": role_id,
                "role_type": role_type,
                "role_name": role_name,
            }
        master_roles = [r for r in self.roles.values() if r["role_type"] == "master_account_role"]
        user_id = 30_000 + rng.randrange(1_000)
        for i in range(3 + len(self._accounts)):
            user_id += rng.randrange(1, 20)
            first = _FIRST[(i * 7 + 3) % len(_FIRST)]
            last = _LAST[(i * 5 + 1) % len(_LAST)]
            email = f"{first.lower()}.{last.lower().replace(' ', '')}@agency.example.com"
            user: dict[str, Any] = {"user_id": user_id}
            if i < 3:
                role = master_roles[i % len(master_roles)]
                user.update(
                    user_type="master_account_user",
                    email=email,
                    pending_activation=i == 2,
                    role_name=role["role_name"],
                    role_id=role["role_id"],
                )
            else:
                user.update(
                    user_type="account_user",
                    email=email,
                    pending_activation=False,
                )
            user["date_created"] = format_timestamp(created + i * 86_400)
            self.users[user_id] = user

    def _make_tracking(self, rng: random.Random, created: int) -> None:
        number_id = 600_000 + rng.randrange(10_000)
        form_id = 900_000 + rng.randrange(10_000)
        for pid in self.profile_order:
            prof = self._profiles[pid]
            for k in range(3):
                number_id += rng.randrange(1, 30)
                area = _AREAS[(pid + k) % len(_AREAS)]
                self.numbers.append(
                    {
                        "account_id": prof.account_id,
                        "profile_id": pid,
                        "profile": prof.profile_name,
                        "phone_number_id": number_id,
                        "phone_name": _PHONE_NAMES[k],
                        "tracking_number": f"+1{area}555{(number_id % 9_000) + 1_000:04d}",
                        "tracking_number_iso_country": "US",
                        "destination_number": f"+1{area}555{(pid % 9_000) + 1_000:04d}",
                        "destination_number_iso_country": "US",
                        "swap_number": f"+1{area}555{(pid % 8_000) + 2_000:04d}" if k else "",
                        "call_flow": "Forward to destination",
                        "trigger": ("All Traffic", "Source", "Landing Page")[k],
                        "source": ("", "google", "(direct)")[k],
                        "medium": ("", "cpc", "(none)")[k],
                        "last_used": format_timestamp(created + rng.randrange(10**8)),
                        "call_recording": k != 2,
                        "voice": True,
                        "messaging": k == 0,
                        "pending_activation": False,
                    }
                )
            for k, fname in enumerate(_FORM_NAMES[:2]):
                form_id += rng.randrange(1, 30)
                self.forms.append(
                    {
                        "form_id": form_id,
                        "form_name": fname,
                        "attribute_type": ("id", "class")[k],
                        "attribute_type_value": ("contact-form", "quote-form")[k],
                        "submit_attribute_type": "type",
                        "submit_attribute_type_value": "submit",
                        "profile": prof.profile_name,
                        "profile_id": pid,
                        "account_id": prof.account_id,
                    }
                )

    # --- directory -------------------------------------------------------------------

    def new_id(self) -> int:
        """A fresh id for a created account/profile/user (never reused)."""
        return 10_000_000 + next(self._next_id)

    def account(self, account_id: int) -> dict[str, Any]:
        """The wire dict of one account, with its profiles; ``KeyError`` if unknown."""
        acct = self._accounts[account_id]
        return {
            "account_id": acct.account_id,
            "account_name": acct.account_name,
            "date_created": format_timestamp(acct.date_created),
            "profiles": [self.profile(pid) for pid in acct.profile_ids],
        }

    def account_created_ts(self, account_id: int) -> int:
        """Creation time of an account in epoch seconds."""
        return self._accounts[account_id].date_created

    def profile_created_ts(self, profile_id: int) -> int:
        """Creation time of a profile in epoch seconds."""
        return self._profiles[profile_id].date_created

    @property
    def accounts(self) -> list[dict[str, Any]]:
        """All accounts as wire dicts, in id order."""
        return [self.account(a) for a in sorted(self._accounts)]

    @property
    def profiles(self) -> list[dict[str, Any]]:
        """All profiles as wire dicts (plus ``account_id``), in id order."""
        return [
            {**self.profile(pid), "account_id": self._profiles[pid].account_id}
            for pid in sorted(self._profiles)
        ]

    def account_ids(self) -> list[int]:
        """Ids of all accounts, ascending."""
        return sorted(self._accounts)

    def profile_ids(self, account_id: int | None = None) -> list[int]:
        """Ids of all profiles (of one account if given), ascending."""
        if account_id is None:
            return sorted(self._profiles)
        return sorted(self._accounts[account_id].profile_ids)

    def profile(self, profile_id: int) -> dict[str, Any]:
        """The wire dict of one profile; ``KeyError`` if unknown."""
        prof = self._profiles[profile_id]
        return {
            "profile_id": prof.profile_id,
            "profile_name": prof.profile_name,
            "date_created": format_timestamp(prof.date_created),
        }

    def profile_account(self, profile_id: int) -> int:
        """The account id that owns a profile."""
        return self._profiles[profile_id].account_id

    def create_account(self, account_name: str, *, now: int, create_profile: bool) -> int:
        """Add an account (and optionally a first profile); return its id."""
        account_id = self.new_id()
        self._accounts[account_id] = _Account(account_id, account_name, now)
        if create_profile:
            self.create_profile(account_id, account_name, now=now)
        return account_id

    def rename_account(self, account_id: int, account_name: str) -> None:
        """Change an account's name; ``KeyError`` if unknown."""
        self._accounts[account_id].account_name = account_name

    def delete_account(self, account_id: int) -> None:
        """Remove an account and its profiles (their leads stay readable by id)."""
        acct = self._accounts.pop(account_id)
        for pid in acct.profile_ids:
            del self._profiles[pid]

    def create_profile(self, account_id: int, profile_name: str, *, now: int) -> int:
        """Add a profile to an account; return its id."""
        acct = self._accounts[account_id]
        profile_id = self.new_id()
        self._profiles[profile_id] = _Profile(profile_id, profile_name, account_id, now)
        acct.profile_ids.append(profile_id)
        self.profile_order.append(profile_id)
        return profile_id

    def rename_profile(self, profile_id: int, profile_name: str) -> None:
        """Change a profile's name; ``KeyError`` if unknown."""
        self._profiles[profile_id].profile_name = profile_name

    def delete_profile(self, profile_id: int) -> None:
        """Remove a profile from its account."""
        prof = self._profiles.pop(profile_id)
        self._accounts[prof.account_id].profile_ids.remove(profile_id)

    def has_profile(self, profile_id: int) -> bool:
        """Whether a profile exists."""
        return profile_id in self._profiles

    def has_account(self, account_id: int) -> bool:
        """Whether an account exists."""
        return account_id in self._accounts

    def names(self, profile_id: int) -> tuple[str, int, str]:
        """``(profile_name, account_id, account_name)``; ``("", 0, "")`` when deleted."""
        prof = self._profiles.get(profile_id)
        if prof is None:
            return "", 0, ""
        acct = self._accounts.get(prof.account_id)
        return prof.profile_name, prof.account_id, acct.account_name if acct else ""
