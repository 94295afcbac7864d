"""The lead generator: realistic leads from ``(seed, lead_id)``, cheap to store.

:func:`generate_columns` draws a few compact columns per lead (id, creation time,
type, profile index, a flag byte); :class:`LeadRenderer` turns one lead's columns
into its full wire dict on demand, deterministically, so a million leads cost about
20 MB and the same seed always gives the same bytes.
"""

from __future__ import annotations

import itertools
import math
import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .vocabulary import (
    DUPLICATE,
    HAS_QUOTE,
    HAS_SALES,
    QUOTABLE_DISPLAY,
    QUOTABLE_SHIFT,
    REPEAT,
    SPAM,
    TYPE_DISPLAY,
    format_timestamp,
    mix,
)

__all__ = ["LeadColumns", "LeadRenderer", "generate_columns"]

# Out of 256: roughly the mix of a services business with call tracking.
_TYPE_WEIGHTS: Final = (110, 70, 20, 14, 12, 8, 8, 10, 4)
_TYPE_TABLE: Final = bytes(
    itertools.chain.from_iterable([code] * w for code, w in enumerate(_TYPE_WEIGHTS))
)
# --- vocabularies -------------------------------------------------------------------

_FIRST: Final = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty",
    "Mark", "Sandra", "Ahmed", "Mei", "Zoë", "José", "Olivia", "Liam", "Noah", "Emma", "Ava",
)  # fmt: skip
_LAST: Final = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "O'Brien",
    "Nguyen", "Kowalski", "Müller", "Bergeron", "Clark", "Lewis", "Walker", "Young",
)  # fmt: skip
_COMPANIES: Final = (
    "", "", "", "Acme Corp", "Blue Ridge Plumbing, LLC", "Smith & Sons", 'The "Best" Roofers',
    "Queen City Dental", "Northwind Traders", "Globex", "Initech", "Umbrella Health, Inc.",
)  # fmt: skip
_DOMAINS: Final = ("example.com", "example.org", "example.net", "mail.example.com")
_AREAS: Final = (
    "704", "980", "803", "919", "212", "646", "415", "312", "305", "702", "206", "512", "617",
    "303", "404", "214", "602", "615", "503", "813",
)  # fmt: skip
_CITIES: Final = (
    ("Charlotte", "NC", "282"), ("Raleigh", "NC", "276"), ("Rock Hill", "SC", "297"),
    ("New York", "NY", "100"), ("San Francisco", "CA", "941"), ("Chicago", "IL", "606"),
    ("Miami", "FL", "331"), ("Las Vegas", "NV", "891"), ("Seattle", "WA", "981"),
    ("Austin", "TX", "787"), ("Boston", "MA", "021"), ("Denver", "CO", "802"),
    ("Atlanta", "GA", "303"), ("Dallas", "TX", "752"), ("Phoenix", "AZ", "850"),
    ("Nashville", "TN", "372"), ("Portland", "OR", "972"), ("Tampa", "FL", "336"),
)  # fmt: skip
# (source, medium, campaign, content, keyword, click-id field or "")
_Attribution = tuple[str | None, str | None, str | None, str | None, str | None, str]
_ATTRIBUTION: Final[tuple[_Attribution, ...]] = (
    ("google", "organic", None, None, None, ""),
    ("google", "organic", None, None, None, ""),
    ("google", "cpc", "Brand", "ad 1", "dentist near me", "gclid"),
    ("google", "cpc", "Services - Exact", "ad 2", "emergency plumber", "gclid"),
    ("google", "cpc", "Remarketing", "banner 300x250", "", "gclid"),
    ("(direct)", "(none)", None, None, None, ""),
    ("(direct)", "(none)", None, None, None, ""),
    ("bing", "cpc", "Brand", "ad 1", "teeth whitening", "msclkid"),
    ("bing", "organic", None, None, None, ""),
    ("facebook", "paid_social", "Spring Promo, 2024", "video", None, "facebook_click_id"),
    ("facebook.com", "referral", None, None, None, ""),
    ("yelp.com", "referral", None, None, None, ""),
    ("newsletter", "email", "Monthly \"Tips\"", "header link", None, ""),
    ("Google My Business", "organic", "GMB", None, None, ""),
    ("Offline", "Offline", None, None, None, ""),
)  # fmt: skip
_PAGES: Final = ("/", "/contact", "/services", "/pricing", "/about-us", "/blog/5-tips", "/book")
_OS: Final = (
    ("Windows 11", "Chrome 136", "Desktop", ""),
    ("Windows 10", "Edge 125", "Desktop", ""),
    ("macOS 10.15 Catalina", "Chrome 136", "Desktop", "Apple Mac"),
    ("macOS 14 Sonoma", "Safari 17", "Desktop", "Apple Mac"),
    ("iOS 17", "Safari 17", "Smartphone", "Apple iPhone"),
    ("Android 14", "Chrome 135", "Smartphone", "Samsung Galaxy S23"),
    ("Android 13", "Samsung Internet 24", "Smartphone", "Samsung Galaxy A54"),
    ("iPadOS 17", "Safari 17", "Tablet", "Apple iPad"),
    ("Linux", "Firefox 126", "Desktop", ""),
)
_PHONE_NAMES: Final = ("All Traffic", "Google Ads", "Website", "Yelp", "Direct Mail", "GMB")
_ANSWER: Final = ("Answered", "Answered", "Answered", "Answered", "Missed", "Voicemail")
_LINE_TYPES: Final = ("Landline", "Mobile", "Mobile", "VoIP")
_FORM_NAMES: Final = ("Contact Us", "Request a Quote", "Newsletter Signup", "Book Appointment")
_TOPICS: Final = ("pricing", "scheduling", "emergency", "insurance", "warranty", "directions")
_SENTIMENTS: Final = ("Positive", "Neutral", "Negative")
_MESSAGES: Final = (
    "Hi, do you have availability this week?",
    "What are your prices for a standard cleaning, and do you take insurance?",
    'I need a quote for the "premium" package, ASAP.',
    "Please call me back after 5pm.\nThanks!",
    "Is the Main St. location open on Saturdays?",
    "",
)
_TRANSCRIPT_LINES: Final = (
    "Agent: Thank you for calling, this is {agent}, how can I help you?",
    "Caller: Hi, yes, I'd like to get a quote for {topic}.",
    "Agent: Sure, can I get your name, please?",
    "Caller: It's {name}, that's {first} with a \"{initial}\".",
    "Agent: Great, and what's the best number to reach you, {first}?",
    "Caller: You can use this one, {phone}.",
    "Agent: Perfect, someone will call you back today, okay?",
    "Caller: Thanks, bye.",
)
_EVENT_CATEGORIES: Final = (
    ("Video", "Play", "Homepage hero"),
    ("Download", "Click", "Brochure PDF"),
)
_EMAIL_SUBJECTS: Final = ("Question about your services", "Quote request", "Re: appointment")


@dataclass
class LeadColumns:
    """Compact columns of the generated leads, ascending by (date_created, lead_id).

    ``profs`` holds indexes into the directory's ``profile_order``; ``flags`` the
    ``SPAM``/``DUPLICATE``/... bits with the quotable index at ``QUOTABLE_SHIFT``.
    """

    ids: array[int]
    ts: array[int]
    types: bytearray
    profs: array[int]
    flags: bytearray
    max_id: int


def generate_columns(n: int, start_ts: int, end_ts: int, salt: int, nprof: int) -> LeadColumns:
    """The columns of ``n`` generated leads over ``[start_ts, end_ts)`` and ``nprof`` profiles.

    Ids increase with ``date_created``; the same arguments give the same columns.
    """
    rng = random.Random(salt ^ 0x1EAD5)
    ts_col = array("q", _spread_timestamps(n, start_ts, end_ts, rng))
    types = bytearray(n)
    flags = bytearray(n)
    profs = array("H", bytes(2 * n))
    ids = array("q", bytes(8 * n))
    type_table = _TYPE_TABLE
    next_id = 100_000_000 + (salt % 1_000_000)
    for i in range(n):
        h = mix(salt ^ i)
        types[i] = type_table[h & 255]
        if nprof > 1:
            profs[i] = ((h >> 8) & 0xFFFF) % nprof
        f = 0
        if (h >> 16) & 255 < 5:
            f |= SPAM
        if (h >> 24) & 255 < 8:
            f |= DUPLICATE
        if (h >> 32) & 255 < 64:
            f |= REPEAT
        q = (h >> 40) & 255
        f |= (0 if q < 150 else 1 if q < 200 else 2 if q < 225 else 3) << QUOTABLE_SHIFT
        if (h >> 48) & 255 < 40:
            f |= HAS_QUOTE
        # Every transaction has a sales value; other leads rarely do.
        if (h >> 56) & 255 < 25 or types[i] == 7:
            f |= HAS_SALES
        flags[i] = f
        next_id += 1 + ((h >> 60) % 3)
        ids[i] = next_id
    return LeadColumns(ids, ts_col, types, profs, flags, next_id)


class LeadRenderer:
    """Renders wire dicts of leads; ``names(profile_id)`` gives
    ``(profile_name, account_id, account_name)`` (empty for a deleted profile)."""

    def __init__(
        self, salt: int, names: Callable[[int], tuple[str, int, str]], latest: int | None = None
    ) -> None:
        self._salt = salt
        self._names = names
        # The data's end (epoch seconds): no lead was last updated after it, or an edit
        # made at the simulator's "now" would look older than the lead it edits.
        self._latest = latest

    def inserted_flags(self, lead_id: int) -> int:
        """Flag bits of a lead inserted with generated values (mostly none)."""
        h = mix(self._salt ^ lead_id ^ 0x5EED)
        return h & (SPAM | DUPLICATE | REPEAT | HAS_QUOTE) if h & 0xF00 == 0 else 0

    def blank(self, lead_id: int, ts: int, t: int, pid: int) -> dict[str, Any]:
        """A lead as the API holds it right after a create with no optional fields."""
        lead = _blank_lead(lead_id, ts, t, self._salt)
        profile_name, account_id, account_name = self._names(pid)
        lead.update(
            account_id=account_id, account=account_name, profile_id=pid, profile=profile_name
        )
        return lead

    def light(self, lid: int, t: int, pid: int) -> dict[str, Any]:
        """The text fields the list filters compare, without rendering the whole lead."""
        h1 = mix(self._salt ^ lid)
        h2 = mix(h1)
        nulls = h1 & 7 < 3
        contact = _contact(h1, t, nulls)
        src = _ATTRIBUTION[(h2 >> 8) % len(_ATTRIBUTION)]
        return {
            "phone_number": contact[3],
            "email_address": contact[2],
            "lead_source": src[0],
            "lead_medium": src[1],
            "lead_campaign": src[2],
            "lead_content": src[3],
            "lead_keyword": src[4],
            "user_id": _visitor(pid, h1, h2),
        }

    def render(self, lid: int, ts: int, t: int, pid: int, flags: int) -> dict[str, Any]:
        """The full wire dict of a lead from its columns (type index ``t``, flag bits)."""
        salt = self._salt
        h1 = mix(salt ^ lid)
        h2 = mix(h1)
        h3 = mix(h2)
        profile_name, account_id, account_name = self._names(pid)
        # About 3 in 8 leads use null for empty text, the rest "": both occur live.
        nulls = h1 & 7 < 3
        empty = None if nulls else ""
        name, company, email, phone, first = _contact(h1, t, nulls)
        city, state, zip3 = _CITIES[(h1 >> 8) % len(_CITIES)]
        src = _ATTRIBUTION[(h2 >> 8) % len(_ATTRIBUTION)]
        os_, browser, device, make = _OS[(h2 >> 16) % len(_OS)]
        site = f"https://www.{('acme', 'blueridge', 'queencity')[pid % 3]}.example.com"
        page = _PAGES[(h2 >> 24) % len(_PAGES)]
        landing = _PAGES[(h2 >> 28) % len(_PAGES)]
        quotable = (flags >> QUOTABLE_SHIFT) & 3
        quote = float((h3 & 0x3FF) * 5 + 50) if flags & HAS_QUOTE else None
        if quote is not None and h3 & 0x400:
            quote = int(quote)
        sales = round((h3 >> 12 & 0xFFFF) / 7.0 + 20, 2) if flags & HAS_SALES else None
        updated = ts + ((h3 >> 32) & 0xFFFF) % 600 + 5
        if quotable or quote is not None or sales is not None:
            updated += ((h3 >> 40) & 0xFFF) * 60
        if self._latest is not None and updated > self._latest:
            updated = max(ts, self._latest)
        score = ((h3 >> 48) & 0xF) * 10 if (h3 >> 52) & 1 else 0
        keywords = ""
        analysis: Any = []
        if (h3 >> 53) & 3 == 0:
            topic = _TOPICS[(h3 >> 55) % len(_TOPICS)]
            keywords = f"quote,{topic}" if h3 & 1 else topic
            analysis = {
                "Keyword Detection": keywords,
                "Lead Summary": f"The contact asked about {topic}, and wants a call back.",
                "Intent Detection": "Wants pricing" if h3 & 2 else "Wants an appointment",
                "Sentiment Detection": _SENTIMENTS[(h3 >> 58) % 3],
                "Topic Detection": topic,
            }
        lead: dict[str, Any] = {
            "account_id": account_id,
            "account": account_name,
            "profile_id": pid,
            "profile": profile_name,
            "lead_id": lid,
            "user_id": _visitor(pid, h1, h2),
            "lead_type": TYPE_DISPLAY[t],
            "lead_status": "Repeat" if flags & REPEAT else "Unique",
            "lead_score": score,
            "lead_state": "In Progress" if (h1 >> 40) & 63 == 0 else "Completed",
            "date_created": format_timestamp(ts),
            "last_updated": format_timestamp(updated),
            "quotable": QUOTABLE_DISPLAY[quotable],
            "quote_value": quote,
            "sales_value": sales,
            "spotted_keywords": keywords,
            "lead_analysis": analysis,
            "lead_source": src[0],
            "lead_medium": src[1],
            "lead_campaign": src[2],
            "lead_content": src[3],
            "lead_keyword": src[4],
            "lead_url": site + page,
            "landing_url": f"{site}{landing}?utm_source={src[0] or ''}",
            "operating_system": os_,
            "browser": browser,
            "device_type": device,
            "device_make": make or empty,
            "ip_address": f"198.51.100.{(h1 >> 16) & 255}",
            "spam": bool(flags & SPAM),
            "duplicate": bool(flags & DUPLICATE),
            "notes": "Called back, left a message, will try again." if h3 & 4 else empty,
            "contact_name": name,
            "contact_company_name": company,
            "contact_email_address": email,
            "contact_phone_number": phone,
            "email_address": email,
            "phone_number": phone,
            "city": city,
            "state": state,
            "zip": f"{zip3}{(h1 >> 24) % 100:02d}",
            "country": "US",
            "additional_fields": [],
        }
        if src[5]:
            lead[src[5]] = f"{src[5][:2].upper()}-{h2 >> 20:013x}"
        if t == 0:  # Phone Call
            secs = (h3 >> 20) % 900 + 3
            answer = _ANSWER[(h2 >> 36) % len(_ANSWER)]
            rec = f"{h2 & 0xFFFFFFFFFFFF:012x}"
            base = "https://app.whatconverts.com/recording/"
            area = _AREAS[(h1 >> 44) % len(_AREAS)]
            lead.update(
                call_status=lead["lead_state"],
                phone_name=_PHONE_NAMES[(h2 >> 40) % len(_PHONE_NAMES)],
                call_duration=f"{secs} seconds",
                call_duration_seconds=secs,
                tracking_number=f"+1{area}555{(h1 >> 48) % 9000 + 1000:04d}",
                destination_number=f"+1{area}555{pid % 9000 + 1000:04d}",
                caller_number=phone,
                caller_name=name.upper() if (h1 >> 52) & 1 else "WIRELESS CALLER",
                caller_city=city,
                caller_state=state,
                caller_zip=lead["zip"],
                caller_country="US",
                answer_status=answer,
                line_type=_LINE_TYPES[(h2 >> 44) % len(_LINE_TYPES)],
                recording=f"{base}{rec}/download",
                play_recording=f"{base}{rec}/play",
                voicemail=f"{base}{rec}v/download" if answer == "Voicemail" else empty,
                play_voicemail=f"{base}{rec}v/play" if answer == "Voicemail" else empty,
                call_transcription=_transcript(h3, name, first, phone or "")
                if answer == "Answered"
                else empty,
                voicemail_transcription=(
                    f"Hi, this is {first}, please call me back at {phone}, thanks."
                    if answer == "Voicemail"
                    else empty
                ),
            )
        elif t == 1:  # Web Form
            form = _FORM_NAMES[(h2 >> 36) % len(_FORM_NAMES)]
            lead["form_name"] = form
            if (h2 >> 40) & 7:
                fields: dict[str, Any] = {
                    "Name:": name,
                    "Email": email,
                    "Message": _MESSAGES[(h3 >> 20) % len(_MESSAGES)],
                    "How did you hear about us?": 'A friend, "Bob", told me',
                }
                if (h2 >> 44) & 1:
                    fields["Budget"] = "$1,000 - $5,000"
                lead["additional_fields"] = fields
                lead["mapped_fields"] = {"Contact Name": name, "Email": email}
        elif t in (2, 3, 4):  # Chat, Text Message, Email
            lead["message"] = _MESSAGES[(h3 >> 20) % len(_MESSAGES)] or empty
            if t == 3:
                lead["tracking_number"] = f"+1{_AREAS[pid % len(_AREAS)]}5550100"
                lead["caller_number"] = phone
            elif t == 4:
                lead["sender_name"] = name
                lead["subject"] = _EMAIL_SUBJECTS[(h3 >> 24) % len(_EMAIL_SUBJECTS)]
            if t == 2 and (h2 >> 40) & 1:
                lead["additional_fields"] = {"Chat Agent": "Dana", "Rating": "5"}
        elif t == 6:  # Event
            cat, act, lab = _EVENT_CATEGORIES[(h3 >> 20) & 1]
            lead.update(category=cat, action=act, label=lab)
        elif t == 7:  # Transaction: the names of the official transaction webhook
            lead.update(
                transaction_id=f"{lid % 10**8:08d}",
                transaction_tax=round(((h3 >> 20) & 0xFFF) / 100, 2),
                transaction_shipping=round(((h3 >> 32) & 0x7FF) / 100, 2),
                field_mappings={"Contact Person": name, **({"Email": email} if email else {})},
            )
        return lead


def _spread_timestamps(n: int, start: int, end: int, rng: random.Random) -> list[int]:
    """``n`` sorted timestamps in [start, end), denser in some weeks than others."""
    if n == 0:
        return []
    week = 7 * 86_400
    buckets = max(1, math.ceil((end - start) / week))
    phase = rng.random() * 2 * math.pi
    weights = []
    for b in range(buckets):
        seasonal = 1.0 + 0.5 * math.sin(2 * math.pi * b / 52.0 + phase)
        growth = 0.5 + b / buckets
        spike = 3.0 if rng.random() < 0.08 else 1.0
        weights.append(seasonal * growth * spike)
    total = sum(weights)
    exact = [n * w / total for w in weights]
    counts = [int(e) for e in exact]
    short = n - sum(counts)
    by_remainder = sorted(range(buckets), key=lambda b: exact[b] - counts[b], reverse=True)
    for b in by_remainder[:short]:
        counts[b] += 1
    out: list[int] = []
    randrange = rng.randrange
    for b, c in enumerate(counts):
        if not c:
            continue
        lo = start + b * week
        span = min(week, end - lo)
        out.extend(sorted([lo + randrange(span) for _ in range(c)]))
    return out


def _contact(h1: int, t: int, nulls: bool) -> tuple[str, str | None, str | None, str | None, str]:
    """(name, company, email, phone, first name) of a lead's contact."""
    c = (h1 >> 12) % 200_000
    first = _FIRST[c % len(_FIRST)]
    last = _LAST[(c // len(_FIRST)) % len(_LAST)]
    name = f"{first} {last}"
    company = _COMPANIES[(c >> 3) % len(_COMPANIES)]
    local = f"{first}.{last}".lower().replace("'", "")
    email = f"{local}{c % 97}@{_DOMAINS[c % len(_DOMAINS)]}"
    phone = f"+1{_AREAS[c % len(_AREAS)]}555{(c // len(_AREAS)) % 10_000:04d}"
    # Calls and texts always know the number; forms and emails usually know the address.
    has_phone = t in (0, 3) or (h1 >> 36) & 3 != 0
    has_email = t in (1, 4) or (h1 >> 38) & 3 == 0
    empty = None if nulls else ""
    return (
        name if t != 0 or (h1 >> 39) & 1 else "",
        company or empty,
        email if has_email else empty,
        phone if has_phone else empty,
        first,
    )


def _visitor(pid: int, h1: int, h2: int) -> str:
    u = f"{h1 ^ h2:016x}{h2:016x}"
    return f"{pid}-{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}"


def _transcript(h3: int, name: str, first: str, phone: str) -> str:
    n = 4 + (h3 >> 60) % 5
    words = {
        "agent": "Dana",
        "topic": _TOPICS[(h3 >> 16) % len(_TOPICS)],
        "name": name,
        "first": first,
        "initial": first[:1],
        "phone": phone,
    }
    return "\n".join(line.format(**words) for line in _TRANSCRIPT_LINES[:n])


def _blank_lead(lead_id: int, ts: int, t: int, salt: int) -> dict[str, Any]:
    """A lead as the API would hold it right after a create with no optional fields."""
    h = mix(salt ^ lead_id)
    stamp = format_timestamp(ts)
    lead: dict[str, Any] = {
        "account_id": 0,
        "account": "",
        "profile_id": 0,
        "profile": "",
        "lead_id": lead_id,
        "user_id": "",
        "lead_type": TYPE_DISPLAY[t],
        "lead_status": "Unique",
        "lead_score": 0,
        "lead_state": "Completed",
        "date_created": stamp,
        "last_updated": stamp,
        "quotable": "Not Set",
        "quote_value": None,
        "sales_value": None,
        "spotted_keywords": "",
        "lead_analysis": [],
        "lead_source": None,
        "lead_medium": None,
        "lead_campaign": None,
        "lead_content": None,
        "lead_keyword": None,
        "lead_url": "",
        "landing_url": "",
        "operating_system": "",
        "browser": "",
        "device_type": "",
        "device_make": "",
        "ip_address": "",
        "spam": False,
        "duplicate": False,
        "notes": "",
        "contact_name": "",
        "contact_company_name": "",
        "contact_email_address": "",
        "contact_phone_number": "",
        "email_address": "",
        "phone_number": "",
        "city": "",
        "state": "",
        "zip": "",
        "country": "",
        "additional_fields": [],
    }
    if t == 0:
        rec = f"{h & 0xFFFFFFFFFFFF:012x}"
        base = "https://app.whatconverts.com/recording/"
        lead.update(
            call_status="Completed",
            phone_name="",
            call_duration="0 seconds",
            call_duration_seconds=0,
            tracking_number="",
            destination_number="",
            caller_number="",
            caller_name="",
            caller_city="",
            caller_state="",
            caller_zip="",
            caller_country="",
            answer_status="Answered",
            line_type="",
            recording=f"{base}{rec}/download",
            play_recording=f"{base}{rec}/play",
            voicemail="",
            play_voicemail="",
            call_transcription="",
            voicemail_transcription="",
        )
    elif t == 1:
        lead["form_name"] = ""
    elif t in (2, 3, 4):
        lead["message"] = ""
    return lead
