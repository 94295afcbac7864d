"""Tracking phone numbers and tracked web forms."""

from __future__ import annotations

from typing import Any

from ..models import Page, TrackingForm, TrackingNumber
from ..pagination import PageStream
from ._base import ListResource

__all__ = ["TrackingResource"]


def _number_key(number: TrackingNumber) -> int:
    return number.phone_number_id


def _form_key(form: TrackingForm) -> int:
    return form.form_id


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
