"""The HTTP client of webhooks, which reaches public addresses only.

A target's name is resolved, and each address checked, before anything is sent (and again
at every delivery, not only when the endpoint is made): loopback, private, link-local,
shared, reserved, unspecified and multicast addresses are refused, and the cloud metadata
addresses (169.254.169.254, fd00:ec2::254) by name, unless ``allowed`` (the setting
``CAUSETTE_WEBHOOK_ALLOWED_NETWORKS``, a list of CIDRs) contains them. The connection goes to
the address that was checked (no second resolution that a DNS answer could change), with the
name kept in the Host header and in TLS's SNI and certificate check. Redirects are not
followed (a 3xx is a failed try); no proxy from the environment is used; connecting,
reading and the whole try are bounded; at most 4 KB of the answer is read.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from chat.clock import utcnow
from chat.errors import InvalidRequest

__all__ = ["Answer", "Guard", "SafeClient", "Target", "not_allowed"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
MAX_URL = 2048
SNIPPET = 4096  # bytes of an answer kept in the delivery log
RESOLVE_SECONDS = 5.0
CLIENTS = 256  # endpoints with a connection pool of their own at once


def not_allowed(message: str) -> InvalidRequest:
    return InvalidRequest(message, code="url_not_allowed")


@dataclass(frozen=True, slots=True)
class Target:
    """A URL whose name was resolved to ``address``, which was checked."""

    scheme: str
    host: str  # the name, for the Host header and SNI
    port: int
    path: str  # with its query
    address: Address

    @property
    def pinned(self) -> str:
        """The URL with the checked address in place of the name."""
        ip = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{ip}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


class Guard:
    """Which addresses a webhook may reach."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = tuple(ipaddress.ip_network(n, strict=False) for n in allowed)

    def allows(self, address: Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address.version == n.version and address in n for n in self.allowed):
            return True
        if address in METADATA:
            return False
        return address.is_global and not address.is_multicast

    async def resolve(self, url: str) -> Target:
        """The URL's name resolved and checked; InvalidRequest url_not_allowed otherwise."""
        scheme, host, port, path = _parts(url)
        literal = _literal(host)
        if literal is not None:  # no resolver to ask
            if not self.allows(literal):
                raise not_allowed(_REFUSED)
            return Target(scheme, host, port, path, literal)
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                ),
                RESOLVE_SECONDS,
            )
        except (OSError, TimeoutError, UnicodeError):
            raise not_allowed(f"The host {host} does not resolve.") from None
        addresses: list[Address] = []
        for info in infos:
            found = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if found not in addresses:
                addresses.append(found)
        usable = [a for a in addresses if self.allows(a)]
        if not usable:
            raise not_allowed(_REFUSED)
        return Target(scheme, host, port, path, usable[0])


_REFUSED = (
    "The URL reaches a loopback, private, link-local or otherwise non-public address: "
    "webhooks go to public addresses only."
)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _parts(url: str) -> tuple[str, str, int, str]:
    if len(url) > MAX_URL:
        raise not_allowed(f"A webhook URL is at most {MAX_URL} characters.")
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError:
        raise not_allowed("Not a URL.") from None
    if split.scheme not in ("http", "https") or not split.hostname:
        raise not_allowed("A webhook URL is http:// or https:// and names a host.")
    if split.username is not None or split.password is not None:
        raise not_allowed("A webhook URL carries no user name or password.")
    try:
        host = split.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise not_allowed("The host name is not valid.") from None
    path = split.path or "/"
    if split.query:
        path += "?" + split.query
    return split.scheme, host, port or (443 if split.scheme == "https" else 80), path


@dataclass(frozen=True, slots=True)
class Answer:
    """What one try got: the status (None: no answer), how long it took, the start of the
    answer, its Retry-After in seconds, or why there was no answer."""

    status: int | None
    latency_ms: int
    text: str = ""
    retry_after: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class SafeClient:
    """POSTs to checked addresses, with a connection pool per endpoint (``key``), each of at
    most ``per_endpoint`` connections: one endpoint's slowness stays its own."""

    def __init__(
        self,
        guard: Guard,
        *,
        connect: float = 5.0,
        read: float = 10.0,
        total: float = 15.0,
        per_endpoint: int = 4,
    ) -> None:
        self.guard = guard
        self.total = total
        self._timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=total)
        self._limits = httpx.Limits(
            max_connections=per_endpoint, max_keepalive_connections=per_endpoint
        )
        self._clients: collections.OrderedDict[str, httpx.AsyncClient] = collections.OrderedDict()

    def _client(self, key: str) -> httpx.AsyncClient:
        client = self._clients.pop(key, None)
        if client is None:
            client = httpx.AsyncClient(
                timeout=self._timeout,
                limits=self._limits,
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment
            )
            while len(self._clients) >= CLIENTS:
                _, old = self._clients.popitem(last=False)
                asyncio.get_running_loop().create_task(old.aclose())
        self._clients[key] = client
        return client

    async def post(self, key: str, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            target = await self.guard.resolve(url)
        except InvalidRequest as exc:
            return Answer(None, took(), error=exc.message[:200])
        sent = {
            **headers,
            "host": target.host_header,
            "content-type": "application/json",
            "user-agent": "causette-webhooks/1",
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        client = self._client(key)
        try:
            async with asyncio.timeout(self.total):
                request = client.build_request(
                    "POST", target.pinned, content=body, headers=sent, extensions=extensions
                )
                response = await client.send(request, stream=True)
                try:
                    kept = bytearray()
                    async for chunk in response.aiter_bytes():
                        kept += chunk
                        if len(kept) >= SNIPPET:
                            break
                finally:
                    await response.aclose()
        except TimeoutError:
            return Answer(None, took(), error=f"no answer within {self.total:g} s")
        except httpx.HTTPError as exc:
            return Answer(None, took(), error=_why(exc))
        return Answer(
            response.status_code,
            took(),
            bytes(kept[:SNIPPET]).decode("utf-8", "replace"),
            retry_after=_retry_after(response.headers.get("retry-after")),
        )

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), collections.OrderedDict()
        for client in clients:
            await client.aclose()


def _why(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    return type(exc).__name__


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (a number of seconds, or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - utcnow()).total_seconds())
