"""Roles of the master account (master/agency key only)."""

from __future__ import annotations

from typing import Any, Literal

from ..models import Page, Role
from ..pagination import PageStream
from ..params import check_choice, check_id
from ._base import ListResource, created_filters

__all__ = ["RolesResource"]

ROLE_TYPES = ("master_account", "account")


def _role_key(role: Role) -> int:
    return role.role_id


def _role_filters(order: Any, role_type: Any) -> dict[str, Any]:
    return {
        **created_filters(None, None, order),
        "role_type": None
        if role_type is None
        else check_choice(role_type, "role_type", ROLE_TYPES),
    }


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
        """Every role of one kind: ``role_type`` ``master_account`` (what the API lists
        when it is None) or ``account``; iterate once per kind for all roles.

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
