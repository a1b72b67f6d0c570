"""One email out over SMTP (aiosmtplib), and what the server's answer means.

``smtp://user:pass@host:587`` upgrades with STARTTLS whenever the server offers it, and
speaks plain SMTP to a relay that does not (a local relay on port 25); credentials are then
sent only to a loopback relay, never in the clear over a network. ``smtps://`` is TLS from
the first byte (port 465). Certificates are checked against the system's CAs, or against
``CAUSETTE_SMTP_CA_FILE``.

A 5xx answer is a refusal for good (``DeliveryFailed.permanent``); anything else that goes
wrong (a 4xx, a timeout, a connection refused or cut, a TLS handshake failing) may pass on
another try. The reason kept is the server's code and words, its addresses masked: it is
logged and shown to agents.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib

__all__ = ["DeliveryFailed", "SmtpServer", "mask_addresses", "send"]

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")


def mask_addresses(text: str) -> str:
    """``<bob@example.com>: no such user`` as ``<…@example.com>: no such user``."""
    return _ADDRESS.sub(lambda m: "…@" + m.group(0).rsplit("@", 1)[1], text)


class DeliveryFailed(Exception):
    """The email did not go: ``reason`` (an SMTP code and its words, or what failed) and
    whether trying again is pointless."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = mask_addresses(" ".join(reason.split()))[:200]
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout: float = 30.0

    @classmethod
    def from_url(
        cls, url: str, *, ca_file: Path | None = None, timeout: float = 30.0
    ) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("CAUSETTE_SMTP_URL: smtp://[user:pass@]host[:port] or smtps://...")
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORTS[parts.scheme],
            implicit_tls=parts.scheme == "smtps",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ca_file=ca_file,
            timeout=timeout,
        )

    @property
    def name(self) -> str:
        """Where email goes, for logs: no credentials."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.ca_file is not None:
            context.load_verify_locations(cafile=str(self.ca_file))
        return context


async def send(
    server: SmtpServer, message: EmailMessage, tls_context: ssl.SSLContext | None = None
) -> None:
    """Deliver ``message`` (its From and To headers say who) or raise DeliveryFailed.
    ``tls_context``: ``server.tls_context()``, made once by the caller (it reads the CAs)."""
    client = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        timeout=server.timeout,
        use_tls=server.implicit_tls,
        start_tls=False if server.implicit_tls else None,  # None: whenever it is offered
        tls_context=tls_context or server.tls_context(),
    )
    try:
        async with client:
            encrypted = client.get_transport_info("sslcontext") is not None
            if server.username is not None:
                if not encrypted and not server.loopback:
                    raise DeliveryFailed(
                        "the server offers no STARTTLS: credentials are not sent in the clear",
                        permanent=True,
                    )
                await client.login(server.username, server.password or "")
            await client.send_message(message)
    except DeliveryFailed:
        raise
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        first = exc.recipients[0] if exc.recipients else None
        reason = f"{first.code} {first.message}" if first else "recipients refused"
        raise DeliveryFailed(reason, permanent=all(c >= 500 for c in codes)) from None
    except aiosmtplib.SMTPResponseException as exc:
        raise DeliveryFailed(f"{exc.code} {exc.message}", permanent=exc.code >= 500) from None
    except (aiosmtplib.SMTPException, OSError) as exc:  # timeouts, refused, cut, TLS
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}", permanent=False) from None
