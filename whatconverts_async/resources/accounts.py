"""Accounts (master/agency key only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ..models import Account, Page
from ..pagination import PageStream
from ..params import DateLike, check_bool, check_id, check_name
from ._base import ListResource, created_filters

__all__ = ["AccountsResource"]


def _created(item: Account) -> datetime | None:
    return item.date_created


def _account_key(account: Account) -> int:
    return account.account_id


class AccountsResource(ListResource):
    """Accounts under a master account (``wc.accounts``)."""

    async def list(
        self,
        *,
        accounts_per_page: int | None = None,
        page_number: int | None = None,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        order: Literal["asc", "desc"] | None = None,
    ) -> Page[Account]:
        """One page of accounts (at most 250), optionally filtered by creation date.

        Without dates the API applies its own window, which is not documented (one report:
        accounts created today only); pass ``start_date``/``end_date`` or use :meth:`iterate`.

        Example::

            page = await wc.accounts.list(accounts_per_page=50)
            names = [a.account_name for a in page.items]
        """
        params = self._list_params(
            "accounts_per_page",
            accounts_per_page,
            page_number,
            created_filters(start_date, end_date, order),
        )
        return await self._page("accounts", params, Account, "accounts")

    def iterate(
        self,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        order: Literal["asc", "desc"] | None = None,
        per_page: int | None = None,
        prefetch: int = 4,
        max_items: int | None = None,
    ) -> PageStream[Account]:
        """Every account, page after page (250 per request by default).

        Reads within explicit dates: ``start_date`` (default 2000-01-01, before any
        WhatConverts data) to ``end_date`` (default now, fixed at the start), never the
        API's undocumented default window (one report: created today only). If the API
        refuses that range (400), it is read in windows of at most 400 days instead, one
        request or more each. An account outside the dates asked for raises
        :class:`~whatconverts_async.PaginationError`.

        Example::

            async for account in wc.accounts.iterate():
                print(account.account_id, [p.profile_id for p in account.profiles])
        """
        return self._iterate_dated(
            "accounts",
            "accounts",
            Account,
            created_filters(start_date, end_date, order),
            key=_account_key,
            created=_created,
            per_page=per_page,
            prefetch=prefetch,
            max_items=max_items,
        )

    async def get(self, account_id: int) -> Account:
        """One account; :class:`~whatconverts_async.NotFoundError` if unknown.

        Example::

            account = await wc.accounts.get(70011)
        """
        check_id(account_id, "account_id")
        return await self._one(f"accounts/{account_id}", Account, "accounts", "account")

    async def create(self, *, account_name: str, create_profile: bool | None = None) -> Account:
        """Create an account (optionally with a first profile) and return it.

        The API answers with the id and name only; other fields are None.

        Example::

            account = await wc.accounts.create(account_name="Acme", create_profile=True)
        """
        form: dict[str, Any] = {"account_name": check_name(account_name, "account_name")}
        if create_profile is not None:
            form["create_profile"] = check_bool(create_profile, "create_profile")
        payload = await self._client.request("POST", "accounts", form=form, idempotent=False)
        return self._read(
            payload,
            "accounts",
            lambda: Account.from_dict(payload),
            method="POST",
            consequence="the account may have been created: look for it before creating it again",
        )

    async def update(self, account_id: int, *, account_name: str) -> Account:
        """Rename an account; returns the API's answer (id and new name).

        Example::

            await wc.accounts.update(70011, account_name="Acme Dental")
        """
        check_id(account_id, "account_id")
        form = {"account_name": check_name(account_name, "account_name")}
        path = f"accounts/{account_id}"
        payload = await self._client.request("POST", path, form=form, idempotent=True)
        return self._read(payload, path, lambda: Account.from_dict(payload), method="POST")

    async def delete(self, account_id: int) -> int:
        """Delete an account with its profiles and data; returns the deleted id.

        Example::

            await wc.accounts.delete(70011)
        """
        check_id(account_id, "account_id")
        path = f"accounts/{account_id}"
        # Not retried once it may have arrived: a repeated delete of a deleted account would
        # answer "Invalid ... ID." and report a success as NotFoundError.
        payload = await self._client.request("DELETE", path, idempotent=False)
        return self._read(
            payload, path, lambda: int(payload.get("account_id", account_id)), method="DELETE"
        )
