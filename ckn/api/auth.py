"""Who may call what: API keys, identity-provider tokens, roles, and the policy table of role × operation.

Keys are kept in ``CKN_HOME/keys.json`` as a salted SHA-256 of their secret, never the secret
itself; ``ckn keys create`` shows a new key once. A request names its key in ``Authorization: Bearer
<key>`` or ``X-API-Key``; with an identity provider set (:class:`Tokens`), a JWT it signed works in
``Authorization: Bearer`` too. As long as no key exists and no provider is set, the API is open, for a
single user on their own machine (``ckn serve`` refuses any other address than loopback then, unless
told ``--insecure-no-auth``); otherwise every operation but liveness and readiness needs a key or a
token, and :data:`POLICY` says which roles may call it (:data:`api.privacy.HIDDEN`: which fields
each role sees).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import math
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, NoReturn

import jwt
from fastapi import Request

from ckn.graph.errors import (
    ConfigError,
    Forbidden,
    InvalidInput,
    NotFound,
    ProviderUnavailable,
    RateLimited,
    Unauthorized,
)
from ckn.graph.model import utcnow
from ckn.graph.shared import Taken
from ckn.graph.store import GraphStore

Role = Literal["viewer", "sales", "marketing", "knowledge_manager", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "sales", "marketing", "knowledge_manager", "admin")

PUBLIC: frozenset[Role] = frozenset()
"""No key needed (liveness and readiness)."""
ANYONE: frozenset[Role] = frozenset(ROLES)
"""Any key: answers that name no customer's personal data."""
PEOPLE: frozenset[Role] = frozenset({"sales", "marketing", "knowledge_manager", "admin"})
"""Answers that show customers or colleagues: not the read-only ``viewer``."""
WRITERS: frozenset[Role] = frozenset({"knowledge_manager", "admin"})
"""Changes to the graph: ingest, deletion, erasure, review decisions; and access requests."""
ADMIN: frozenset[Role] = frozenset({"admin"})
"""The audit log."""

POLICY: dict[str, frozenset[Role]] = {
    "GET /healthz": PUBLIC,
    "GET /": PUBLIC,
    "GET /app/{name}": PUBLIC,
    "GET /me": PUBLIC,
    "GET /quarantine": WRITERS,
    "GET /readyz": PUBLIC,
    "GET /stats": ANYONE,
    "GET /knowledge/map": ANYONE,
    "GET /knowledge/gaps": ANYONE,
    "GET /topics": ANYONE,
    "GET /knowledge/bus-factor": ANYONE,
    "GET /referrals/stats": ANYONE,
    "GET /entities": PEOPLE,
    "GET /entities/{entity_id}": PEOPLE,
    "GET /entities/{entity_id}/relations": PEOPLE,
    "GET /entities/{entity_id}/neighbourhood": PEOPLE,
    "GET /paths": PEOPLE,
    "GET /holders/{subject_id}": PEOPLE,
    "GET /experts": PEOPLE,
    "GET /knowledge/tacit": PEOPLE,
    "GET /employees/{employee_id}/departure-impact": PEOPLE,
    "GET /customers/{customer_id}/referrals": PEOPLE,
    "GET /referrers": PEOPLE,
    "GET /customers/{customer_id}": PEOPLE,
    "GET /search": PEOPLE,
    "GET /customers/{customer_id}/relationships": PEOPLE,
    "GET /paths/intro": PEOPLE,
    "GET /analysis/{network_name}/{measure}": PEOPLE,
    "GET /ingest/jobs/{job_id}": WRITERS,
    "POST /ingest": WRITERS,
    "GET /review": WRITERS,
    "POST /review/accept": WRITERS,
    "POST /review/reject": WRITERS,
    "POST /review/undo": WRITERS,
    "GET /review/names": WRITERS,
    "POST /review/names/confirm": WRITERS,
    "POST /review/names/merge": WRITERS,
    "POST /review/names/dismiss": WRITERS,
    "DELETE /sources/{source_id}": WRITERS,
    "DELETE /customers/{customer_id}": WRITERS,
    "GET /erasures/{job_id}": WRITERS,
    "GET /customers/{customer_id}/export": WRITERS,
    "GET /audit": ADMIN,
    "GET /audit/verify": ADMIN,
}
"""Which roles may call each operation (``METHOD path``); an operation missing here is refused to all."""


log = logging.getLogger(__name__)

LEASE_S = 5.0
"""How long a process may spend requests it took from a key's bucket ahead (see :class:`RateLimits`)."""
LEASE_AT_MOST = 30
"""Requests a process takes ahead at most."""
LEASES_HELD = 10_000
"""Leases a process holds before it forgets those run out (callers that went away)."""
AHEAD_FROM = 4
"""Leases of at least this many requests are taken again ahead, in the background, once half spent."""


class RateLimits:
    """How many requests each key may make per minute, counted in the store for every API process.

    Each key (or address, for callers without an accepted key) has one token bucket in the store
    (:mod:`graph.shared`), so replicas behind a load balancer and the workers of ``ckn serve
    --workers`` share it. It is named by an HMAC under a secret kept in ``CKN_HOME`` (made when the
    app starts; replicas must share ``CKN_HOME``, as they share the keys, or each counts apart): the
    store never holds a key's name or an address.

    To go to the store about once a second rather than once a request, a process takes a second's
    worth of requests at a time (a lease, at most :data:`LEASE_AT_MOST`; one thread of a process asks
    for a key at a time) and spends them within :data:`LEASE_S` of its last take; what it has not spent
    by then is lost, never given back. So all processes together never let through more than the limit.
    A refusal is remembered until the bucket can have a request again.

    Where the limit makes leases of :data:`AHEAD_FROM` or more, a key's next lease is taken in the
    background once half of the one held is spent, so that its requests do not wait for the store's
    write (several milliseconds on Neo4j); a smaller lease is taken when it runs out (taken ahead, it
    could sit unspent in one process while another refuses the key).
    """

    def __init__(self, per_minute: int, home: Path) -> None:
        self.per_minute = per_minute
        self.lease = max(1, min(LEASE_AT_MOST, per_minute // 60))
        self._secret = home_secret(home, RATE_SECRET)
        self._leases: dict[str, tuple[int, float]] = {}  # key -> requests left, spendable until
        self._refused: dict[str, float] = {}  # key -> refused until
        self._taking: dict[str, threading.Lock] = {}  # key -> held while a thread takes from its bucket
        self._lock = threading.Lock()
        self._ahead: set[threading.Thread] = set()  # taking leases ahead now

    def take(self, store: GraphStore, key: str) -> None:
        """Count one request of ``key``.

        Raises:
            RateLimited: the key has no request left; ``Retry-After`` says when it has one again.

        """
        if self._spent(store, key):
            return
        with self._taking_lock(key):  # one thread of this process asks at a time; the others spend its take
            if self._spent(store, key):
                return
            taken = self._kept(key, self._ask(store, key), spending=True)
        if not taken.granted:
            self._refuse(taken.wait_s)

    def _taking_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._taking.setdefault(key, threading.Lock())

    def _ask(self, store: GraphStore, key: str) -> Taken:
        bucket = hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()
        return store.take_requests(bucket, self.lease, self.per_minute)

    def _kept(self, key: str, taken: Taken, *, spending: bool) -> Taken:
        """Keep what the store gave (one of it spent now, if ``spending``), or that it refused."""
        now = time.monotonic()
        with self._lock:
            if len(self._leases) + len(self._refused) > LEASES_HELD:  # forget callers that went away
                self._leases = {k: v for k, v in self._leases.items() if v[1] > now}
                self._refused = {k: v for k, v in self._refused.items() if v > now}
                self._taking = {k: v for k, v in self._taking.items() if v.locked()}
            left, until = self._leases.get(key, (0, 0.0))
            if taken.granted:
                self._leases[key] = ((left if now < until else 0) + taken.granted - spending, now + LEASE_S)
            else:
                self._refused[key] = now + taken.wait_s
        return taken

    def _spent(self, store: GraphStore, key: str) -> bool:
        """Whether a request of ``key`` was counted from what this process took before.

        Half through a lease of :data:`AHEAD_FROM` or more, the next is taken in the background.

        Raises:
            RateLimited: the store refused the key lately, and it has no request again yet.

        """
        now = time.monotonic()
        with self._lock:
            left, until = self._leases.get(key, (0, 0.0))
            if left > 0 and now < until:
                self._leases[key] = (left - 1, until)
                ahead = (
                    self.lease >= AHEAD_FROM
                    and left - 1 <= self.lease // 2
                    and now >= self._refused.get(key, 0.0)  # not while refused: the store said when
                )
            else:
                ahead, refused_until = False, self._refused.get(key, 0.0)
        if left > 0 and now < until:
            if ahead:
                self._take_ahead(store, key)
            return True
        if now < refused_until:
            self._refuse(refused_until - now)
        return False

    def _take_ahead(self, store: GraphStore, key: str) -> None:
        """Take the key's next lease in a thread of its own, unless a thread of this process is taking one.

        The key's lock is taken here and let go by that thread once its lease is kept: until then, a
        request that runs out waits for it rather than asking the store again.
        """
        taking = self._taking_lock(key)
        if not taking.acquire(blocking=False):
            return

        def ask() -> None:
            try:
                self._kept(key, self._ask(store, key), spending=False)
            except Exception as exc:  # the store is away: the next request that runs out asks, and says so
                log.warning("could not take requests ahead for a key: %s", exc)
            finally:
                taking.release()  # held from the request that found the lease half spent
                with self._lock:
                    self._ahead.discard(thread)

        thread = threading.Thread(target=ask, name="ckn-rate-ahead", daemon=True)
        with self._lock:
            self._ahead.add(thread)
        thread.start()

    def close(self) -> None:
        """Wait for the leases being taken ahead (the app stops: the store closes after them)."""
        with self._lock:
            ahead = list(self._ahead)
        for thread in ahead:
            thread.join(timeout=LEASE_S)

    def _refuse(self, wait_s: float) -> NoReturn:
        wait = max(1, math.ceil(wait_s))
        raise RateLimited(
            f"this key may make {self.per_minute} requests a minute; try again in {wait} s", wait
        )


RATE_SECRET = "rates.secret"  # noqa: S105 (the file's name, not a secret)
"""The file in ``CKN_HOME`` with the secret that rate buckets are named under."""


def home_secret(home: Path, name: str) -> bytes:
    """A random secret kept in ``home/name`` (made once, by whichever process comes first; mode 600).

    Raises:
        ConfigError: ``home`` cannot hold it (not writable, no hard links).

    """
    path = home / name
    try:
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            draft = home / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
            with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                out.write(secrets.token_bytes(32))
            try:
                os.link(draft, path)  # never replaces one another process made first
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"CKN_HOME cannot keep {name}: {exc}") from None


@dataclass
class ApiKey:
    """A key as kept at rest: its id, name, role, and a salted hash of its secret."""

    id: str
    name: str
    role: str
    salt: str
    hash: str
    created_at: str
    revoked_at: str | None = None


class Keys:
    """The API keys of one ckn home (``keys.json``), created, listed and revoked."""

    def __init__(self, home: Path) -> None:
        self.path = home / "keys.json"
        self._read: tuple[tuple[int, int], list[ApiKey]] | None = None

    def _load(self) -> list[ApiKey]:
        """The keys, read again only when the file changed (every request asks)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        version = (stat.st_mtime_ns, stat.st_size)
        if self._read is None or self._read[0] != version:
            keys = [ApiKey(**k) for k in json.loads(self.path.read_text(encoding="utf-8"))]
            self._read = (version, keys)
        return [ApiKey(**asdict(k)) for k in self._read[1]]  # copies: a caller may change them

    def _save(self, keys: list[ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.path.with_suffix(f".{os.getpid()}.tmp")
        fresh.write_text(json.dumps([asdict(k) for k in keys], indent=1), encoding="utf-8")
        fresh.chmod(0o600)
        os.replace(fresh, self.path)

    def create(self, name: str, role: str) -> tuple[ApiKey, str]:
        """A new key for ``role``; returns it and its secret token (shown once, kept only hashed)."""
        if role not in ROLES:
            raise InvalidInput(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        key_id, secret, salt = secrets.token_hex(4), secrets.token_urlsafe(24), secrets.token_hex(8)
        key = ApiKey(key_id, name, role, salt, _digest(salt, secret), utcnow().isoformat())
        self._save([*self._load(), key])
        return key, f"ckn_{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included (without secrets: none is kept)."""
        return self._load()

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id: it is refused from now on."""
        keys = self._load()
        found = next((k for k in keys if k.id == key_id), None)
        if found is None:
            raise NotFound(f"no API key {key_id!r}")
        found.revoked_at = found.revoked_at or utcnow().isoformat()
        self._save(keys)
        return found

    def active(self) -> bool:
        """Whether any key is in force (then every protected operation needs one)."""
        return any(k.revoked_at is None for k in self._load())

    def key_of(self, token: str) -> ApiKey:
        """The key of a presented token.

        Raises:
            Unauthorized: the token is malformed, unknown, revoked or wrong.

        """
        _, key_id, secret = [*token.split("_", 2), "", ""][:3] if token.startswith("ckn_") else ["", "", ""]
        for key in self._load():
            if (
                key.id == key_id
                and key.revoked_at is None
                and hmac.compare_digest(key.hash, _digest(key.salt, secret))
            ):
                return key
        raise Unauthorized("the API key is not valid (unknown, revoked or mistyped)")


class Tokens:
    """Bearer tokens from an external identity provider: JWTs checked against its published keys.

    On when ``CKN_JWT_ISSUER``, ``CKN_JWT_AUDIENCE`` and ``CKN_JWKS_URL`` are set. A token must be
    signed by a key of the JWKS (RS256, ES256 or EdDSA), unexpired, from that issuer, for that audience,
    and name a ckn role in its ``CKN_JWT_ROLE_CLAIM`` claim (a role, or a list: the first ckn role).
    """

    ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA")

    def __init__(
        self, issuer: str | None, audience: str | None, jwks_url: str | None, role_claim: str
    ) -> None:
        self.issuer, self.audience, self.role_claim = issuer, audience, role_claim
        self.enabled = bool(issuer and audience and jwks_url)
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5) if jwks_url else None

    def identity(self, token: str) -> tuple[str, Role]:
        """Who a token is (``jwt:<subject>``) and their role.

        Raises:
            Unauthorized: the token is not valid (signature, expiry, issuer, audience).
            Forbidden: it names no ckn role.

        """
        if self._jwks is None:
            raise Unauthorized("bearer tokens are not accepted here (no identity provider is set)")
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(self.ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientConnectionError:
            raise ProviderUnavailable(
                "the identity provider's keys cannot be fetched; try again shortly", retry_after_s=5
            ) from None
        except jwt.PyJWKClientError:
            raise Unauthorized("the token's signing key is not one of the identity provider's") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"the token is not valid: {exc}") from None
        named = claims.get(self.role_claim)
        for role in [named] if isinstance(named, str) else named if isinstance(named, list) else []:
            if isinstance(role, str) and role in ROLES:
                return f"jwt:{claims['sub']}", role
        raise Forbidden(f"the token names no ckn role in its {self.role_claim!r} claim")


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def bearer(request: Request) -> str:
    """The key or token a request names (``Authorization: Bearer`` or ``X-API-Key``), or ``""``."""
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    return token or request.headers.get("x-api-key", "").strip()


def identify(request: Request, token: str) -> tuple[str, str]:
    """Who a key or token is, and their role.

    A key or token that is not accepted counts against the caller's address in the rate limits (so
    guessing is slowed as flooding is) before it is refused.

    Raises:
        Unauthorized: no such key, or a token that does not verify.
        Forbidden: a token that names no ckn role.

    """
    keys: Keys = request.app.state.keys
    tokens: Tokens = request.app.state.tokens
    try:
        if token.startswith("ckn_") or not tokens.enabled:
            key = keys.key_of(token)
            return f"key:{key.id} ({key.name})", key.role
        return tokens.identity(token)
    except (Unauthorized, Forbidden):
        limits: RateLimits = request.app.state.rate_limits
        limits.take(request.app.state.store, _address(request))
        raise


def authorize(request: Request) -> None:
    """Let a request through if its key's role may call its operation (see :data:`POLICY`)."""
    route = request.scope.get("route")
    operation = f"{request.method} {getattr(route, 'path', request.url.path)}"
    allowed = POLICY.get(operation)
    if allowed is PUBLIC:
        return
    keys: Keys = request.app.state.keys
    tokens: Tokens = request.app.state.tokens
    if not keys.active() and not tokens.enabled:
        request.state.who = "anonymous (no API key exists)"
        return  # no key exists: a single user's API on their own machine
    token = bearer(request)
    limits: RateLimits = request.app.state.rate_limits
    if not token:
        limits.take(request.app.state.store, _address(request))  # no flood either
        raise Unauthorized("this operation needs an API key or token: Authorization: Bearer ... or X-API-Key")
    who, role = identify(request, token)
    request.state.who, request.state.role = who, role
    if allowed is None or role not in allowed:
        raise Forbidden(f"the role {role!r} may not call {operation}")
    limits.take(request.app.state.store, who)


def _address(request: Request) -> str:
    """A caller without an accepted key, as the rate limits count them."""
    return f"address:{request.client.host if request.client else 'unknown'}"


def check_exposure(host: str, keys: Keys, *, insecure_no_auth: bool, tokens: bool = False) -> None:
    """Refuse to serve an open API beyond this machine (``tokens``: an identity provider is set).

    Raises:
        InvalidInput: ``host`` is not loopback, no API key exists nor identity provider is set, and
            ``insecure_no_auth`` is off.

    """
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not keys.active() and not tokens and not insecure_no_auth:
        raise InvalidInput(
            f"refusing to serve on {host} without authentication: create a key with "
            "`ckn keys create NAME --role admin`, or pass --insecure-no-auth to serve it open anyway"
        )
