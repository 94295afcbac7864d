"""Realism switches: how the simulator answers what the API documentation leaves open.

Nobody can say for sure how WhatConverts answers a spent key, whether it hides spam
when no ``spam`` filter is sent, or what an Endpoint answers. The simulator answers
each such question one way by default (what we believe the API does, from the
sources in ``whatconverts-api.md`` and practitioners' reports) and can be switched
to each plausible alternative, so a client can be tested against every one:

=========================  ==================================  ===============================
switch                     default (what we believe)           alternatives
=========================  ==================================  ===============================
``strict``                 ``False``: unknown query/form        ``True``: 400 naming the
                           parameters are ignored, as           parameter (catches a misspelt
                           practitioners report                 parameter in a test)
``spent_key_status``       ``429`` ``{"error_message":          ``403`` or ``200`` with the
                           "Daily request limit reached."}``    same body
``hide_spam_by_default``   ``False``: without ``spam``,         ``True``: spam leads are left
                           spam leads are listed                out unless ``spam=true``
``list_default_window``    ``"all"``: accounts, profiles and    ``"today"``: a missing
                           users without dates are all listed   ``start_date`` means today
                                                                (00:00 UTC), as one source
                                                                that tried the API reports
``recording``              ``"stream"``: ``recording`` answers  ``"redirect"``: 302 to signed
                           ``audio/mpeg``                       storage on another host name
                                                                (``localhost``); ``"html"``:
                                                                200 ``text/html`` login page
``update_webhooks``        ``"full"``: an ``update`` webhook    ``"partial"``: only
                           carries the whole lead               ``lead_id``, the changed
                                                                fields and ``last_updated``
``endpoint_answer``        ``"summary"``: 200 JSON ``{"rows",   ``"empty"``: 200, empty body;
                           "created", "updated", "ignored"}``   ``"text"``: 200 ``text/plain``
                                                                ``OK``
``undocumented_endpoints`` ``False``: ``DELETE users/{id}``     ``True``: both answer (no
                           and ``DELETE tracking/forms/{id}``   source documents them)
                           are 405, as no source documents them
=========================  ==================================  ===============================

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
    undocumented_endpoints: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    ignore_lead_type: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    spam_any_value_is_only_spam: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
