"""The OAuth 2.0 JWT bearer flow: a connected app's certificate, a pre-authorised user, and a
session renewed by itself when Salesforce ends it."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.crm.base import CrmError
from bot.crm.salesforce import SalesforceConnector
from bot.demo.salesforce_standin import SalesforceStandIn
from tests.crm.conftest import CountingSink, connect, seed, sync

CONSUMER_KEY = "3MVG9coachTESTconsumerKEY"


def key_pair(tmp_path: Path, name: str = "server.key") -> tuple[Path, str]:
    """A private key file (as `openssl genrsa` writes one) and its public key in PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / name
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public.decode()


def jwt_connector(sf: SalesforceStandIn, username: str, key: Path) -> SalesforceConnector:
    return connect(
        sf,
        SALESFORCE_INSTANCE_URL=None,
        SALESFORCE_ACCESS_TOKEN=None,
        SALESFORCE_USERNAME=username,
        SALESFORCE_CONSUMER_KEY=CONSUMER_KEY,
        SALESFORCE_PRIVATE_KEY_FILE=str(key),
    )


def test_a_sync_logs_in_with_the_jwt_bearer_flow(sf: SalesforceStandIn, tmp_path: Path) -> None:
    org = seed(sf)
    key, public = key_pair(tmp_path)
    user = sf.username_of(org.maria)
    sf.add_app(CONSUMER_KEY, public, approve=[user])
    sink = CountingSink()
    sync(jwt_connector(sf, user, key), sink)
    assert org.acme in sink.deals
    assert [c.kind for c in sf.calls][:1] == ["token"]


def test_an_ended_session_is_renewed_without_a_word(sf: SalesforceStandIn, tmp_path: Path) -> None:
    org = seed(sf)
    key, public = key_pair(tmp_path)
    user = sf.username_of(org.maria)
    sf.add_app(CONSUMER_KEY, public, approve=[user])
    connector = jwt_connector(sf, user, key)
    list(connector.pages("owners", None))
    sf.revoke()
    assert [page.deals for page, _ in connector.pages("deals", None)]
    assert [c.kind for c in sf.calls].count("token") == 2


@pytest.mark.parametrize("case", ["not approved", "wrong certificate", "unknown app"])
def test_a_refused_login_is_one_line(sf: SalesforceStandIn, tmp_path: Path, case: str) -> None:
    org = seed(sf)
    key, public = key_pair(tmp_path)
    _, other = key_pair(tmp_path, "other.key")
    user = sf.username_of(org.maria)
    if case != "unknown app":
        sf.add_app(
            CONSUMER_KEY,
            other if case == "wrong certificate" else public,
            approve=[] if case == "not approved" else [user],
        )
    with pytest.raises(CrmError) as caught, warnings.catch_warnings():
        # simple-salesforce adds a warning with the authorize URL for unapproved users.
        warnings.simplefilter("ignore")
        sync(jwt_connector(sf, user, key), CountingSink())
    error = caught.value
    assert error.kind == "auth" and "\n" not in error.line
    expected = {
        "not approved": "invalid_grant: user hasn't approved this consumer",
        "wrong certificate": "invalid_grant: invalid assertion",
        "unknown app": "invalid_client_id: client identifier invalid",
    }[case]
    assert expected in error.line and "SALESFORCE_CONSUMER_KEY" in error.line
