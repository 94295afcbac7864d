"""Users and roles (master/agency key only), tracking numbers and forms."""

from __future__ import annotations

from typing import Any, Literal

from ..models import Page, Role, TrackingForm, TrackingNumber, User
from ..pagination import PageStream
from ..params import DateLike, check_choice, check_id
from ._base import ListResource, created_filters

__all__ = ["RolesResource", "TrackingResource", "UsersResource"]

USER_TYPES = ("master_account", "account")
ROLE_TYPES = ("master_account", "account")


def _user_key(user: User) -> int:
    return user.user_id


def _role_key(role: Role) -> int:
    return role.role_id


def _number_key(number: TrackingNumber) -> int:
    return number.phone_number_id


def _form_key(form: TrackingForm) -> int:
    return form.form_id


def _user_filters(start_date: Any, end_date: Any, order: Any, user_type: Any) -> dict[str, Any]:
    return {
        **created_filters(start_date, end_date, order),
        "user_type": None
        if user_type is None
        else check_choice(user_type, "user_type", USER_TYPES),
    }


def _role_filters(order: Any, role_type: Any) -> dict[str, Any]:
    return {
        **created_filters(None, None, order),
        "role_type": None
        if role_type is None
        else check_choice(role_type, "role_type", ROLE_TYPES),
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
        """Every user.

        Example::

            emails = [u.email async for u in wc.users.iterate()]
        """
        return self._iterate_list(
            "users",
            "users",
            User,
            _user_filters(start_date, end_date, order, user_type),
            key=_user_key,
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


class RolesResource(ListResource):
    """Roles of the master account (``wc.roles``)."""

    async def list(
        self,
        *,
        roles_per_page: int | None = None,
        page_number: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        role_type: str | None = None,
    ) -> Page[Role]:
        """One page of roles (ordered by name, ascending by default).

        Example::

            roles = (await wc.roles.list()).items
        """
        params = self._list_params(
            "roles_per_page", roles_per_page, page_number, _role_filters(order, role_type)
        )
        return await self._page("roles", params, Role, "roles")

    def iterate(
        self,
        *,
        order: Literal["asc", "desc"] | None = None,
        role_type: str | None = None,
        per_page: int | None = None,
        prefetch: int = 4,
        max_items: int | None = None,
    ) -> PageStream[Role]:
        """Every role.

        Example::

            async for role in wc.roles.iterate():
                print(role.role_name)
        """
        return self._iterate_list(
            "roles",
            "roles",
            Role,
            _role_filters(order, role_type),
            key=_role_key,
            per_page=per_page,
            prefetch=prefetch,
            max_items=max_items,
        )

    async def get(self, role_id: int) -> Role:
        """One role; :class:`~whatconverts_async.NotFoundError` if unknown.

        Example::

            role = await wc.roles.get(501)
        """
        check_id(role_id, "role_id")
        return await self._one(f"roles/{role_id}", Role, "roles", "role")


class TrackingResource(ListResource):
    """Tracking phone numbers and tracked web forms (``wc.tracking``)."""

    def _scope(self, account_id: Any, profile_id: Any) -> dict[str, Any]:
        scope: dict[str, Any] = {}
        for name, value in (("account_id", account_id), ("profile_id", profile_id)):
            if value is None:
                continue
            scope[name] = self._agency_id(name, value)
        return scope

    async def numbers(
        self,
        *,
        numbers_per_page: int | None = None,
        page_number: int | None = None,
        account_id: int | None = None,
        profile_id: int | None = None,
    ) -> Page[TrackingNumber]:
        """One page of tracking numbers.

        Example::

            page = await wc.tracking.numbers()
            print([n.tracking_number for n in page.items])
        """
        params = self._list_params(
            "numbers_per_page", numbers_per_page, page_number, self._scope(account_id, profile_id)
        )
        return await self._page("tracking/numbers", params, TrackingNumber, "numbers")

    def iterate_numbers(
        self,
        *,
        account_id: int | None = None,
        profile_id: int | None = None,
        per_page: int | None = None,
        prefetch: int = 4,
        max_items: int | None = None,
    ) -> PageStream[TrackingNumber]:
        """Every tracking number.

        Example::

            async for number in wc.tracking.iterate_numbers():
                print(number.phone_name)
        """
        return self._iterate_list(
            "tracking/numbers",
            "numbers",
            TrackingNumber,
            self._scope(account_id, profile_id),
            key=_number_key,
            per_page=per_page,
            prefetch=prefetch,
            max_items=max_items,
        )

    async def forms(
        self,
        *,
        forms_per_page: int | None = None,
        page_number: int | None = None,
        account_id: int | None = None,
        profile_id: int | None = None,
    ) -> Page[TrackingForm]:
        """One page of tracked web forms.

        Example::

            page = await wc.tracking.forms()
        """
        params = self._list_params(
            "forms_per_page", forms_per_page, page_number, self._scope(account_id, profile_id)
        )
        return await self._page("tracking/forms", params, TrackingForm, "forms")

    def iterate_forms(
        self,
        *,
        account_id: int | None = None,
        profile_id: int | None = None,
        per_page: int | None = None,
        prefetch: int = 4,
        max_items: int | None = None,
    ) -> PageStream[TrackingForm]:
        """Every tracked web form.

        Example::

            names = [f.form_name async for f in wc.tracking.iterate_forms()]
        """
        return self._iterate_list(
            "tracking/forms",
            "forms",
            TrackingForm,
            self._scope(account_id, profile_id),
            key=_form_key,
            per_page=per_page,
            prefetch=prefetch,
            max_items=max_items,
        )
