"""What every queue message schema shares: strict models, GUIDs, lengths counted as Graph counts
them, canonical addresses, and one translation of a validation error into a rejection code."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from guest_onboarding.domain.addresses import check_address
from guest_onboarding.domain.invitation import GUID_PATTERN
from guest_onboarding.errors import InvalidMessage

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
