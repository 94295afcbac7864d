"""Realism switches: how the simulator answers what the API documentation leaves open.

Nobody can say for sure how WhatConverts answers a spent key, whether it hides spam
when no ``spam`` filter is sent, or what an Endpoint answers. The simulator answers
each such question one way by default (what we believe the API does, from the
sources in ``whatconverts-api.md`` and practitioners' reports) and can be switched
to each plausible alternative, so a client can be tested against every one.
Each switch, its default (what we believe the API does) and its alternatives:

* ``strict``: default ``False``, unknown query and form parameters are ignored, as
  practitioners report of the API. ``True``: 400 ``Unknown parameter: NAME.``, which
  catches a misspelt parameter in a test.
* ``spent_key_status``: the status of the answer to a key over its daily limit. Default
  ``429``; alternatives ``403`` and ``200``. The body is always
  ``{"error_message": "Daily request limit reached."}`` and there is no ``Retry-After``.
* ``hide_spam_by_default``: default ``False``, lead lists without ``spam`` include spam
  leads. ``True``: spam leads are left out unless ``spam=true`` is sent.
* ``list_default_window``: default ``"all"``, the accounts, profiles and users lists
  without ``start_date`` cover every item. ``"today"``: a missing ``start_date`` means
  today 00:00 UTC, as one source that tried the live API reports (a client should send
  explicit bounds either way).
* ``recording``: default ``"stream"``, ``recording`` answers the ``audio/mpeg`` bytes.
  ``"redirect"``: 302 to signed storage on another host name (``localhost``; see
  :meth:`FakeWhatConverts.storage_url`), as one integrator reports; ``"html"``: 200
  ``text/html`` with a login page, as seen when a session is required.
* ``update_webhooks``: default ``"full"``, an ``update`` webhook carries the whole lead.
  ``"partial"``: only ``trigger``, ``lead_id`` and the changed fields (with
  ``last_updated``).
* ``endpoint_answer``: the 200 answer to an accepted inbound Endpoint batch. Default
  ``"summary"``, JSON ``{"rows", "created", "updated", "ignored"}``; ``"empty"``: an
  empty body; ``"text"``: ``text/plain`` ``OK``. Refused batches are 400 either way.
* ``agency_refusal``: how a profile key is refused an agency-only resource (accounts,
  profiles, users, roles), which the API does not document (one third-party source says
  403). Default ``"agency_key_required"``: 403 ``Agency Key is required to access this
  resource.`` (the wording of the API reference); ``"forbidden"``: 403 ``Forbidden.``;
  ``"unauthorized"``: 401 ``Invalid API credentials.``.
* ``undocumented_endpoints``: default ``False``, ``DELETE users/{id}`` (405) and
  ``DELETE tracking/forms/{id}`` (404) are not served, since no source documents them.
  ``True``: both delete, as this simulator once assumed.

Two more switches make the server read filters wrongly, so that a client's checks of
what came back (issue: filters the server ignores or reads differently) can be tested;
both are off by default:

* ``ignore_lead_type``: ``lead_type`` is accepted and ignored (every type is listed).
* ``spam_any_value_is_only_spam``: any ``spam=`` value, ``false`` included, lists only
  spam leads.

Example::

    from whatconverts_async.testing import FakeWhatConverts, Realism

    async with FakeWhatConverts(leads=100, realism=Realism(spent_key_status=403)) as fake:
        ...
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = ["Realism"]

SpentKeyStatus = Literal[429, 403, 200]
ListWindow = Literal["all", "today"]
RecordingMode = Literal["stream", "redirect", "html"]
UpdateWebhooks = Literal["full", "partial"]
EndpointAnswer = Literal["summary", "empty", "text"]
AgencyRefusal = Literal["agency_key_required", "forbidden", "unauthorized"]

AGENCY_REFUSALS: dict[str, tuple[int, str]] = {
    "agency_key_required": (403, "Agency Key is required to access this resource."),
    "forbidden": (403, "Forbidden."),
    "unauthorized": (401, "Invalid API credentials."),
}
"""``agency_refusal`` → the status and ``error_message`` a profile key gets."""


def _one_of(*allowed: object) -> Any:
    return attrs.validators.in_(allowed)


@attrs.frozen(kw_only=True)
class Realism:
    """How the simulator answers the questions the API documentation leaves open.

    Every field is one switch; see the module documentation for the table of
    defaults (what we believe the API does) and alternatives. Bad values raise
    ``ValueError`` (``TypeError`` for a non-bool switch) at construction.

    Attributes:
        strict: reject unknown query and form parameters with 400 naming them.
        spent_key_status: status of the answer to a key over its daily limit
            (429, 403 or 200); the body is always
            ``{"error_message": "Daily request limit reached."}``.
        hide_spam_by_default: leave spam leads out of lead lists without ``spam``.
        list_default_window: ``"all"`` or ``"today"``: what accounts, profiles and
            users lists cover when no ``start_date`` is sent.
        recording: ``"stream"``, ``"redirect"`` or ``"html"``: how ``recording``
            answers for a lead with a recording.
        update_webhooks: ``"full"`` or ``"partial"`` bodies for ``update`` webhooks.
        endpoint_answer: ``"summary"``, ``"empty"`` or ``"text"``: the 200 body of an
            accepted inbound Endpoint batch.
        agency_refusal: ``"agency_key_required"``, ``"forbidden"`` or ``"unauthorized"``:
            how a profile key is refused an agency-only resource.
        undocumented_endpoints: serve ``DELETE users/{id}`` and
            ``DELETE tracking/forms/{id}``.
        ignore_lead_type: accept and ignore the ``lead_type`` filter (a faulty server).
        spam_any_value_is_only_spam: read any ``spam=`` value as "only spam" (a faulty
            server).
    """

    strict: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    spent_key_status: SpentKeyStatus = attrs.field(default=429, validator=_one_of(429, 403, 200))
    hide_spam_by_default: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    list_default_window: ListWindow = attrs.field(default="all", validator=_one_of("all", "today"))
    recording: RecordingMode = attrs.field(
        default="stream", validator=_one_of("stream", "redirect", "html")
    )
    update_webhooks: UpdateWebhooks = attrs.field(
        default="full", validator=_one_of("full", "partial")
    )
    endpoint_answer: EndpointAnswer = attrs.field(
        default="summary", validator=_one_of("summary", "empty", "text")
    )
    agency_refusal: AgencyRefusal = attrs.field(
        default="agency_key_required", validator=_one_of(*AGENCY_REFUSALS)
    )
    undocumented_endpoints: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    ignore_lead_type: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    spam_any_value_is_only_spam: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
