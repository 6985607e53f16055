"""The queue wire format: message text as received (plain UTF-8 or base64), JSON objects, the
poison envelope every rejected or failed message is moved with, and what every message schema
shares (strict models, GUIDs, lengths counted as Graph counts them, canonical addresses, one
translation of a validation error into a rejection code)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from guest_onboarding.domain.addresses import check_address
from guest_onboarding.domain.invitation import GUID_PATTERN
from guest_onboarding.errors import InvalidMessage


def decode_body(body: bytes | str) -> str:
    """The message text, whether it came as plain UTF-8 JSON or base64 of it."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    stripped = raw.strip()
    if not stripped.startswith((b"{", b"[", b'"')):
        try:
            decoded = base64.b64decode(stripped, validate=True)
        except (binascii.Error, ValueError):
            decoded = None
        if decoded is not None and decoded.strip().startswith(b"{"):
            stripped = decoded.strip()
    try:
        return stripped.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidMessage("InvalidEncoding", "message is not UTF-8 text or base64") from None


def load_object(body: bytes | str) -> dict[str, Any]:
    """The message as a JSON object (``InvalidEncoding`` / ``InvalidJson`` otherwise)."""
    try:
        value = json.loads(decode_body(body))
    except json.JSONDecodeError as exc:
        raise InvalidMessage("InvalidJson", f"message is not valid JSON: {exc.msg}") from None
    except (RecursionError, ValueError):
        # nested too deep, or an integer too long to read: not a message anyone wrote
        raise InvalidMessage("InvalidJson", "message is JSON this app cannot read") from None
    if not isinstance(value, dict):
        raise InvalidMessage("InvalidJson", "message must be a JSON object")
    return value


def as_received(body: bytes | str) -> str:
    """The message exactly as received (base64 stays base64), for poison envelopes and re-queued
    copies. Bytes that are not UTF-8 become lone surrogates (``surrogateescape``), which text
    read from UTF-8 never holds: such a message cannot be kept as text, and its envelope keeps
    no original (:func:`rejection_envelope`), rather than a look-alike replay would act on."""
    if isinstance(body, str):
        return body
    return body.decode("utf-8", errors="surrogateescape")


def _is_text(original: str) -> bool:
    """Whether ``original`` is text (no byte :func:`as_received` could not read as UTF-8)."""
    try:
        original.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: A queue message holds at most 64 KiB; the envelope stays well under it.
MAX_ENVELOPE_BYTES = 60_000
MAX_REASON_CHARACTERS = 1_000
#: An original whose JSON string (escapes included) is at most this many UTF-8 bytes travels
#: whole in its envelope, whatever the reason beside it (the reason is cut to fit, never the
#: original). A bigger one is refused whole on arrival (``MessageTooLarge``), and its envelope
#: keeps no original at all: replay sends exactly the bytes first received or nothing.
MAX_KEPT_ORIGINAL_BYTES = 48_000
#: Shown by ``poison show`` for an original not kept (never replayed).
ORIGINAL_HEAD_CHARACTERS = 2_000
#: The code of a message too large to travel whole in its poison envelope.
TOO_LARGE_TO_KEEP = "MessageTooLarge"


def kept_whole(original: str) -> bool:
    """True when ``original`` fits whole in a poison envelope (:data:`MAX_KEPT_ORIGINAL_BYTES`)."""
    if not _is_text(original):
        return False
    escaped = json.dumps(original, ensure_ascii=False)
    return len(escaped.encode("utf-8")) <= MAX_KEPT_ORIGINAL_BYTES


def check_kept_whole(original: str) -> None:
    """``MessageTooLarge`` for a message that could not be kept whole for replay: refused on
    arrival, before anything is done for it."""
    if _is_text(original) and not kept_whole(original):  # not text: InvalidEncoding, next
        size = len(json.dumps(original, ensure_ascii=False).encode("utf-8"))
        raise InvalidMessage(
            TOO_LARGE_TO_KEEP,
            f"the message takes {size} bytes in a poison envelope, at most "
            f"{MAX_KEPT_ORIGINAL_BYTES}: too large to keep whole for replay, so not acted on",
        )


def rejection_envelope(
    *, original: str, code: str, message: str, details: dict[str, str] | None = None
) -> str:
    """The poison-queue body: ``{"error": {"code", "message", ...}, "original": "..."}``.

    It always fits on a queue. The reason is cut to 1,000 characters (and further if it must,
    to keep the original whole). An original :func:`kept_whole` is always kept exactly as
    received; one too big, or not UTF-8 text, is never cut or mended into something else:
    ``original`` is ``null``, its SHA-256 and length are beside the reason (``originalSha256``,
    ``originalLength``, ``originalKept: "false"``) and its start is under ``originalHead`` for
    a person to read
    (``poison replay`` refuses such a message)."""
    limit = MAX_REASON_CHARACTERS
    error: dict[str, str] = {"code": code, "message": message}
    for key, value in (details or {}).items():
        error[key] = value
    if kept_whole(original):
        while True:
            cut = {k: v[:limit] for k, v in error.items()}
            envelope = json.dumps({"error": cut, "original": original}, ensure_ascii=False)
            if len(envelope.encode("utf-8")) <= MAX_ENVELOPE_BYTES:
                return envelope
            limit //= 2
    error = {k: v[:limit] for k, v in error.items()}
    received = original.encode("utf-8", errors="surrogateescape")  # the bytes, exactly
    error["originalSha256"] = hashlib.sha256(received).hexdigest()
    error["originalLength"] = str(len(original))
    error["originalKept"] = "false"
    head = original[:ORIGINAL_HEAD_CHARACTERS]
    head = head.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    return json.dumps({"error": error, "original": None, "originalHead": head}, ensure_ascii=False)


# -- what every message schema shares ---------------------------------------------------------

MAX_EXTERNAL_ID = 128

Guid = Annotated[str, Field(pattern=GUID_PATTERN)]


def utf16_units(limit: int) -> AfterValidator:
    """At most ``limit`` UTF-16 code units, as Graph counts (an emoji is two)."""

    def check(value: str) -> str:
        units = len(value.encode("utf-16-le")) // 2
        if units > limit:
            raise PydanticCustomError(
                "string_too_long",
                "at most {limit} UTF-16 code units, got {units}",
                {"limit": limit, "units": units},
            )
        return value

    return AfterValidator(check)


def _canonical_address(value: str) -> str:
    return check_address(value)


#: An address this app wrote itself (steps, reminders): re-checked, canonical.
Address = Annotated[str, Field(max_length=320), AfterValidator(_canonical_address)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Internal(Strict):
    """A message this app writes itself: exact JSON types (no ``"1"`` for ``1``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True)


def rejection(exc: ValidationError) -> InvalidMessage:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    kind = first["type"]
    if kind == "extra_forbidden":
        return InvalidMessage("UnknownField", f"unknown field '{where}' (check its spelling)")
    if kind in {"missing", "union_tag_not_found"}:
        return InvalidMessage("MissingField", f"required field '{where}' is missing")
    if kind in {"string_too_long", "too_long"}:
        return InvalidMessage("FieldTooLong", f"'{where}' is too long: {first['msg']}")
    if "TooManyCcRecipients" in str(first.get("msg", "")):
        return InvalidMessage("TooManyCcRecipients", "ccRecipient takes one address only")
    return InvalidMessage("InvalidField", f"'{where}': {first['msg']}")


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_date_or_value(value: object) -> object:
    """A ``YYYY-MM-DD`` text as a date; anything else as it is (the field's type judges it)."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return date.fromisoformat(value)
    return value  # a date already, or refused by the type


def utc_time(value: object) -> datetime:
    """An ISO 8601 time with its UTC offset (the JSON text, or a datetime already)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("an ISO 8601 time") from None
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError("an ISO 8601 time with its UTC offset")
    return value
