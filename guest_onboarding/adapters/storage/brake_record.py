"""The brake's shared record (``domain.brake.BrakeState``) as one Table entity, in a partition
of the ledger's table that holds no guest (``~brake``: the ledger's listings skip ``~``
partitions, and the identity already has Table Data Contributor on that table). The admitted
offboardings are hashes of addresses, never addresses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from guest_onboarding.adapters.storage.codec import utc
from guest_onboarding.domain.brake import BrakeState, Decided, Decision

BRAKE_PARTITION = "~brake"
BRAKE_ROW = "offboarding"


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None


def entity_of_brake(state: BrakeState) -> dict[str, Any]:
    """The record as a Table entity."""
    return {
        "PartitionKey": BRAKE_PARTITION,
        "RowKey": BRAKE_ROW,
        "admitted": json.dumps([[key, at.isoformat()] for key, at in state.admitted]),
        "engaged_at": state.engaged_at or "",
        "decisions": json.dumps([[d.decision.value, d.at.isoformat()] for d in state.decisions]),
    }


def brake_of_entity(entity: Mapping[str, Any], etag: str | None) -> BrakeState:
    """The entity read back (``entity_of_brake``'s inverse)."""
    admitted = json.loads(str(entity.get("admitted") or "[]"))
    decisions = json.loads(str(entity.get("decisions") or "[]"))
    return BrakeState(
        admitted=tuple((str(key), datetime.fromisoformat(at)) for key, at in admitted),
        engaged_at=_time(entity.get("engaged_at")),
        decisions=tuple(
            Decided(decision=Decision(kind), at=datetime.fromisoformat(at))
            for kind, at in decisions
        ),
        etag=etag,
    )
