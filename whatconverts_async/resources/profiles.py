"""Profiles of an account (master/agency key only)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ..models import Page, Profile
from ..pagination import PageStream
from ..params import DateLike, check_id, check_name
from ._base import ListResource, created_filters

__all__ = ["ProfilesResource"]


def _created(item: Profile) -> datetime | None:
    return item.date_created


def _profile_key(profile: Profile) -> int:
    return profile.profile_id


class ProfilesResource(ListResource):
    """Profiles, always within an account (``wc.profiles``)."""

    async def list(
        self,
        account_id: int,
        *,
        profiles_per_page: int | None = None,
        page_number: int | None = None,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        order: Literal["asc", "desc"] | None = None,
    ) -> Page[Profile]:
        """One page of an account's profiles.

        Without dates the API applies its own window, which is not documented (one report:
        profiles created today only); pass ``start_date``/``end_date`` or use :meth:`iterate`.

        Example::

            page = await wc.profiles.list(70011)
        """
        check_id(account_id, "account_id")
        params = self._list_params(
            "profiles_per_page",
            profiles_per_page,
            page_number,
            created_filters(start_date, end_date, order),
        )
        return await self._page(f"accounts/{account_id}/profiles", params, Profile, "profiles")

    def iterate(
        self,
        account_id: int,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        order: Literal["asc", "desc"] | None = None,
        per_page: int | None = None,
        prefetch: int = 4,
        max_items: int | None = None,
    ) -> PageStream[Profile]:
        """Every profile of an account.

        Reads within explicit dates: ``start_date`` (default 2000-01-01, before any
        WhatConverts data) to ``end_date`` (default now, fixed at the start), never the
        API's undocumented default window (one report: created today only). If the API
        refuses that range (400), it is read in windows of at most 400 days instead, one
        request or more each. A profile outside the dates asked for raises
        :class:`~whatconverts_async.PaginationError`.

        Example::

            async for profile in wc.profiles.iterate(70011):
                print(profile.profile_name)
        """
        check_id(account_id, "account_id")
        return self._iterate_dated(
            f"accounts/{account_id}/profiles",
            "profiles",
            Profile,
            created_filters(start_date, end_date, order),
            key=_profile_key,
            created=_created,
            per_page=per_page,
            prefetch=prefetch,
            max_items=max_items,
        )

    async def get(self, account_id: int, profile_id: int) -> Profile:
        """One profile; :class:`~whatconverts_async.NotFoundError` if unknown.

        Example::

            profile = await wc.profiles.get(70011, 80022)
        """
        check_id(account_id, "account_id")
        check_id(profile_id, "profile_id")
        return await self._one(
            f"accounts/{account_id}/profiles/{profile_id}", Profile, "profiles", "profile"
        )

    async def create(self, account_id: int, *, profile_name: str) -> Profile:
        """Create a profile in an account.

        Example::

            profile = await wc.profiles.create(70011, profile_name="Landing pages")
        """
        check_id(account_id, "account_id")
        path = f"accounts/{account_id}/profiles"
        payload = await self._client.request(
            "POST",
            path,
            form={"profile_name": check_name(profile_name, "profile_name")},
            idempotent=False,
        )
        return self._read(
            payload,
            path,
            lambda: Profile.from_dict(payload),
            method="POST",
            consequence="the profile may have been created: look for it before creating it again",
        )

    async def update(self, account_id: int, profile_id: int, *, profile_name: str) -> Profile:
        """Rename a profile.

        Example::

            await wc.profiles.update(70011, 80022, profile_name="Main site")
        """
        check_id(account_id, "account_id")
        check_id(profile_id, "profile_id")
        path = f"accounts/{account_id}/profiles/{profile_id}"
        payload = await self._client.request(
            "POST",
            path,
            form={"profile_name": check_name(profile_name, "profile_name")},
            idempotent=True,
        )
        return self._read(payload, path, lambda: Profile.from_dict(payload), method="POST")

    async def delete(self, account_id: int, profile_id: int) -> int:
        """Delete a profile; returns the deleted id.

        Example::

            await wc.profiles.delete(70011, 80022)
        """
        check_id(account_id, "account_id")
        check_id(profile_id, "profile_id")
        path = f"accounts/{account_id}/profiles/{profile_id}"
        # Not retried once it may have arrived: a repeated delete of a deleted profile would
        # answer "Invalid ... ID." and report a success as NotFoundError.
        payload = await self._client.request("DELETE", path, idempotent=False)
        return self._read(
            payload, path, lambda: int(payload.get("profile_id", profile_id)), method="DELETE"
        )
