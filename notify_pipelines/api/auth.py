"""Authentication: service JWTs (reference §6.5 `requires_auth`, verified with PyJWT) and the admin bearer token.

API key secrets are stored *signed* (`<secret>.<HMAC-SHA256 of it under NOTIFY_API_SIGNING_KEY>`, the scheme of
itsdangerous' Signer, written with the standard library), as the reference stores `_secret`: HS256 needs the
secret itself to check a signature, so a one-way hash cannot work. Signing makes a tampered or foreign row unusable
(the key is skipped); it does not hide the secret from someone who can read the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

import jwt
from jwt.algorithms import HMACAlgorithm

from notify_pipelines.notifications.errors import AuthMissing, AuthRefused
from notify_pipelines.notifications.store import ServiceCredentials

CLOCK_SKEW_SECONDS = 30


def new_secret() -> str:
    """A UUID, as Notify's: the client libraries read the secret as the last 36 characters of the combined key."""
    return str(uuid.uuid4())


def combined_key(name: str, service_id: uuid.UUID, secret: str) -> str:
    """What Notify's client libraries take: `<key name>-<service id>-<secret>` (they read the last 73 characters)."""
    return f"{name}-{service_id}-{secret}"


def _signature(secret: str, signing_key: str) -> str:
    digest = hmac.new(signing_key.encode(), b"api-key-secret:" + secret.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_secret(secret: str, signing_key: str) -> str:
    return f"{secret}.{_signature(secret, signing_key)}"


def unsign_secret(signed: str, signing_key: str) -> str | None:
    """The secret, or None when the stored value was not signed with this server's key."""
    secret, _, signature = signed.rpartition(".")
    if secret and hmac.compare_digest(signature, _signature(secret, signing_key)):
        return secret
    return None


def prepared_key(signed: str, signing_key: str) -> bytes | None:
    """A stored key as PyJWT's HS256 verifies with it (prepared once per credentials load, not per request)."""
    secret = unsign_secret(signed, signing_key)
    return _HS256.prepare_key(secret) if secret else None


@dataclass(frozen=True)
class ApiUser:
    service: ServiceCredentials
    api_key_id: uuid.UUID
    key_type: str


@dataclass(frozen=True)
class UnverifiedToken:
    signing_input: bytes  # "<header>.<payload>" as sent
    signature: bytes
    claims: dict
    service_id: uuid.UUID


# A Notify token is about 200 bytes; anything much longer is refused before it is decoded at all.
MAX_TOKEN_CHARS = 2048
_HS256 = HMACAlgorithm(HMACAlgorithm.SHA256)


# Parsed tokens by their text. A parse depends on the text alone, and clients mint one token a second or so (the
# official clients put iat in whole seconds), so under load most requests skip it; the signature, the key's state
# and the times are still checked on every request. Bounded: cleared when full.
_PARSED: dict[str, UnverifiedToken] = {}
_PARSED_MAX = 4096


def read_bearer_token(authorization: str | None) -> UnverifiedToken:
    """Checks that need no database: the header, the scheme, the size, the algorithm and the issuer."""
    if not authorization:
        raise AuthMissing("Unauthorized: authentication token must be provided")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise AuthMissing("Unauthorized: authentication bearer scheme must be used")
    token = token.strip()
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthRefused(f"Invalid token: longer than {MAX_TOKEN_CHARS} characters")
    parsed = _PARSED.get(token)
    if parsed is None:
        parsed = _parse(token)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[token] = parsed
    return parsed


def _parse(token: str) -> UnverifiedToken:
    # Parsed once (PyJWT), then each of the service's keys is tried on the parsed token with PyJWT's HS256.
    try:
        parsed = jwt.decode_complete(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise AuthRefused("Invalid token: signature, api token is not valid") from None
    if parsed["header"].get("alg") != "HS256":
        raise AuthRefused("Invalid token: algorithm used is not HS256")
    claims = parsed["payload"]
    issuer = claims.get("iss")
    if issuer is None:
        raise AuthRefused("Invalid token: iss field not provided")
    try:
        service_id = uuid.UUID(str(issuer))
    except ValueError:
        raise AuthRefused("Invalid token: service id is not the right data type") from None
    return UnverifiedToken(token.rpartition(".")[0].encode(), parsed["signature"], claims, service_id)


def verify_service_token(
    unverified: UnverifiedToken,
    service: ServiceCredentials | None,
    keys: dict[uuid.UUID, bytes | None],
    now: float | None = None,
) -> ApiUser:
    """Check the signature against each of the service's keys; the first that verifies says who is calling."""
    if service is None:
        raise AuthRefused("Invalid token: service not found")
    if not service.api_keys:
        raise AuthRefused("Invalid token: service has no API keys")
    if not service.active:
        raise AuthRefused("Invalid token: service is archived")
    for key in service.api_keys:
        prepared = keys.get(key.id)
        if not prepared:
            continue
        if not _HS256.verify(unverified.signing_input, prepared, unverified.signature):
            continue
        _check_times(unverified.claims, time.time() if now is None else now)
        if key.revoked:
            raise AuthRefused("Invalid token: API key revoked")
        return ApiUser(service=service, api_key_id=key.id, key_type=key.key_type)
    raise AuthRefused("Invalid token: API key not found")


def _check_times(claims: dict, now: float) -> None:
    """Reference: iat within 30 s of now either way; and an `exp`, when given, not in the past."""
    issued_at = claims.get("iat")
    if issued_at is None:
        raise AuthRefused("Invalid token: iat field not provided")
    if isinstance(issued_at, bool) or not isinstance(issued_at, (int, float)):
        raise AuthRefused("Invalid token: iat field is not a number")
    if abs(now - issued_at) > CLOCK_SKEW_SECONDS:
        raise AuthRefused("Error: Your system clock must be accurate to within 30 seconds")
    expires = claims.get("exp")
    if expires is not None:
        if isinstance(expires, bool) or not isinstance(expires, (int, float)):
            raise AuthRefused("Invalid token: exp field is not a number")
        if expires <= now:
            raise AuthRefused("Invalid token: expired, check that your system clock is accurate")


def check_admin_token(authorization: str | None, expected: str | None) -> None:
    if not expected:
        raise AuthRefused("Admin endpoints are disabled: NOTIFY_ADMIN_TOKEN is not set")
    if not authorization:
        raise AuthMissing("Unauthorized: admin authentication token must be provided")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise AuthMissing("Unauthorized: authentication bearer scheme must be used")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise AuthRefused("Invalid admin token")
