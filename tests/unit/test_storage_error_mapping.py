"""The failures a proxy cannot produce, mapped by the same rule: no token for the identity, a
refused connection, an answer cut short are transient; an answer the SDK cannot read is not.
(Every HTTP status and dropped connection is driven through the adapters in
tests/integration/test_storage_faults.py.)"""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    DecodeError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseTimeoutError,
)
from azure.identity import CredentialUnavailableError

from guest_onboarding.adapters.storage.failures import store_error
from guest_onboarding.errors import PermanentStoreError, StoreUnavailable


@pytest.mark.parametrize(
    "exc, code",
    [
        (CredentialUnavailableError("no managed identity endpoint"), "TokenUnavailable"),
        (ClientAuthenticationError("token request failed"), "TokenUnavailable"),
        (ServiceRequestError("Cannot connect to host 127.0.0.1:10002"), "ConnectionError"),
        (ServiceResponseTimeoutError("Response timeout"), "Timeout"),
        (IncompleteReadError("Connection closed mid-body"), "IncompleteAnswer"),
    ],
)
def test_no_answer_and_no_token_are_transient(exc: AzureError, code: str) -> None:
    mapped = store_error(exc, "read a ledger row")
    assert isinstance(mapped, StoreUnavailable)
    assert mapped.code == code
    assert mapped.message.startswith("could not read a ledger row: ")
    assert "127.0.0.1" not in mapped.message  # the SDK's text (URLs, hosts) stays in the cause


@pytest.mark.parametrize("exc", [DecodeError("not JSON"), AzureError("something else")])
def test_an_answer_the_sdk_cannot_read_is_permanent(exc: AzureError) -> None:
    assert isinstance(store_error(exc, "read a ledger row"), PermanentStoreError)
