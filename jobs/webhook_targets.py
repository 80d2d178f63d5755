"""Where a webhook may go: an https URL whose host resolves to public addresses only
(outside development), checked when the job is submitted and again at every delivery, which
then connects to the address it checked (no DNS rebinding in between)."""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from configs import WebhookSettings
from paleon.errors import InvalidRequest

EVENTS = ("start", "completed")  # completed: any terminal status
DEFAULT_EVENTS = ("completed",)
MAX_URL = 2000
RESOLVE_TIMEOUT_S = 5.0

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Subscription:
    url: str
    events: tuple[str, ...]


class Refused(Exception):
    """A webhook target that may not be called; the message says why."""


class Targets:
    def __init__(self, settings: WebhookSettings, development: bool):
        self.development = development
        self.allowed = tuple(ipaddress.ip_network(net, strict=False)
                             for net in settings.allowed_networks)

    async def subscription(self, url: str | None, events: list[str]) -> Subscription | None:
        """The submission's `webhook` and `webhook_events_filter` fields, checked (400)."""
        if url is None or not url.strip():
            if events:
                raise InvalidRequest("`webhook_events_filter` needs a `webhook` URL.")
            return None
        unknown = sorted(set(events) - set(EVENTS))
        if unknown:
            raise InvalidRequest(f"`webhook_events_filter` takes {' and '.join(EVENTS)}; not "
                                 f"{', '.join(map(repr, unknown))}.")
        try:
            await self.resolve(url.strip())
        except Refused as exc:
            raise InvalidRequest(f"`webhook`: {exc}") from None
        chosen = tuple(event for event in EVENTS if event in events) or DEFAULT_EVENTS
        return Subscription(url=url.strip(), events=chosen)

    async def resolve(self, url: str) -> Address:
        """The address to connect to for `url`, once every address its host resolves to
        may be called; Refused if not."""
        if len(url) > MAX_URL:
            raise Refused(f"the URL is longer than {MAX_URL} characters")
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise Refused("not a valid URL") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise Refused("an https:// URL is needed")
        if parts.username or parts.password:
            raise Refused("credentials in the URL are not accepted; verify the signature")
        addresses = await _addresses(parts.hostname, port)
        if self.development:
            return addresses[0]
        inside = all(any(address in net for net in self.allowed) for address in addresses)
        if parts.scheme == "http" and not inside:
            raise Refused("an https:// URL is needed (http only in development or to "
                          "WEBHOOK_ALLOWED_NETWORKS)")
        for address in addresses:
            if not _public(address) and not any(address in net for net in self.allowed):
                # Never which address: that would let a user map the internal network.
                raise Refused(f"{parts.hostname} resolves to a loopback, private, link-local "
                              "or reserved address")
        return addresses[0]


NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the last 32 bits
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a network's own translator


def _public(address: Address) -> bool:
    """Public, and so is every IPv4 address it carries: an IPv4-mapped (::ffff:a.b.c.d),
    NAT64 (64:ff9b::a.b.c.d), 6to4 (2002:aabb:ccdd::) or Teredo address reaches that IPv4
    address through a translator or relay, so ::ffff:127.0.0.1 is 127.0.0.1."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return True
    if address in LOCAL_NAT64:
        return False
    carried = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in NAT64:
        carried.append(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
    return all(_public(v4) for v4 in carried if v4 is not None)


async def _addresses(host: str, port: int) -> list[Address]:
    try:
        found = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
    except TimeoutError:
        raise Refused(f"{host} did not resolve within {RESOLVE_TIMEOUT_S} s") from None
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"{host} does not resolve ({exc})") from None
    addresses = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Refused(f"{host} does not resolve")
    return addresses
