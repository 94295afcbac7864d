"""attrs validators for settings objects (the client's config, :class:`RetryPolicy`, ...).

Each raises :class:`~whatconverts_async.errors.InvalidParameterError` naming the setting
as the user typed it (the ``__init__`` argument, also for private fields), so a bad value
fails at construction with the same message everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from .errors import InvalidParameterError

__all__ = ["has_methods", "instance", "one_of", "seconds", "whole"]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _name(attribute: attrs.Attribute[Any]) -> str:
    return attribute.alias or attribute.name


def whole(minimum: int) -> Validator:
    """An ``int`` (not a bool) ``>= minimum``."""

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InvalidParameterError(
                _name(attribute), f"must be an integer >= {minimum}, got {value!r}"
            )

    return check


def seconds(*, positive: bool = False) -> Validator:
    """A number of seconds (int or float, not a bool): ``> 0`` or ``>= 0``; NaN is refused."""
    bound = "> 0" if positive else ">= 0"

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        # Written as ``not value > 0`` so that NaN, which compares false, is refused too.
        if not is_number or not (value > 0 if positive else value >= 0):
            raise InvalidParameterError(
                _name(attribute), f"must be a number of seconds {bound}, got {value!r}"
            )

    return check


def one_of(*choices: str) -> Validator:
    """One of ``choices``."""
    allowed = " or ".join(repr(c) for c in choices)

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise InvalidParameterError(_name(attribute), f"must be {allowed}, got {value!r}")

    return check


def instance(cls: type, *, optional: bool = True) -> Validator:
    """An instance of ``cls`` (or None when ``optional``)."""

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if (value is None and optional) or isinstance(value, cls):
            return
        raise InvalidParameterError(
            _name(attribute), f"must be a {cls.__name__}, got {type(value).__name__}"
        )

    return check


def has_methods(*names: str, like: str, on_type: bool = False) -> Validator:
    """None, or an object with the methods ``names``. ``on_type`` looks them up on the
    type, so that no property of the object is read (a shared quota may not know its
    ``limit`` before it meets a client)."""

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        where = type(value) if on_type else value
        if value is None or all(callable(getattr(where, n, None)) for n in names):
            return
        raise InvalidParameterError(_name(attribute), f"must be {like}, got {type(value).__name__}")

    return check
