"""Users of the master account (master/agency key only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ..models import Page, User
from ..pagination import PageStream
from ..params import DateLike, check_choice, check_id
from ._base import ListResource, created_filters

__all__ = ["UsersResource"]

USER_TYPES = ("master_account", "account")


def _created(item: User) -> datetime | None:
    return item.date_created


def _user_key(user: User) -> int:
    return user.user_id


def _user_filters(start_date: Any, end_date: Any, order: Any, user_type: Any) -> dict[str, Any]:
    return {
        **created_filters(start_date, end_date, order),
        "user_type": None
        if user_type is None
        else check_choice(user_type, "user_type", USER_TYPES),
    }


class UsersResource(ListResource):
    """Users of the master account (``wc.users``)."""

    async def list(
        self,
        *,
        users_per_page: int | None = None,
        page_number: int | None = None,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        order: Literal["asc", "desc"] | None = None,
        user_type: str | None = None,
    ) -> Page[User]:
        """One page of users; ``user_type`` is ``master_account`` (API default) or ``account``.

        Without dates the API applies its own window, which is not documented (one report:
        users created today only); pass ``start_date``/``end_date`` or use :meth:`iterate`.

        Example::

            page = await wc.users.list(user_type="account")
        """
        params = self._list_params(
            "users_per_page",
            users_per_page,
            page_number,
            _user_filters(start_date, end_date, order, user_type),
        )
        return await self._page("users", params, User, "users")

    def iterate(
        self,
        *,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        order: Literal["asc", "desc"] | None = None,
        user_type: str | None = None,
        per_page: int | None = None,
        prefetch: int = 4,
        max_items: int | None = None,
    ) -> PageStream[User]:
        """Every user of one kind: ``user_type`` ``master_account`` (what the API lists
        when it is None) or ``account``; iterate once per kind for all users.

        Reads within explicit dates (``start_date`` default 2000-01-01, ``end_date`` now),
        never the API's undocumented default window; see
        :meth:`~whatconverts_async.resources.accounts.AccountsResource.iterate`.

        Example::

            emails = [u.email async for u in wc.users.iterate()]
        """
        return self._iterate_dated(
            "users",
            "users",
            User,
            _user_filters(start_date, end_date, order, user_type),
            key=_user_key,
            created=_created,
            per_page=per_page,
            prefetch=prefetch,
            max_items=max_items,
        )

    async def get(self, user_id: int) -> User:
        """One user; :class:`~whatconverts_async.NotFoundError` if unknown.

        Example::

            user = await wc.users.get(12)
        """
        check_id(user_id, "user_id")
        return await self._one(f"users/{user_id}", User, "users", "user")
