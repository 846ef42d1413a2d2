"""A small real authoritative DNS server for tests, serving one zone (or several) on 127.0.0.1.

    with ZoneServer(zone_text, "example.test") as server:
        ...  # ask 127.0.0.1, port server.port, over UDP or TCP

    with ZoneServer.multi({"test": parent_zone, "example.test": child_zone}) as server:
        ...  # several zones (text, or dns.zone.Zone objects such as signed ones)

It answers with the AA flag from the zone: the records of the asked type (or the CNAME at
that name, not followed), NOERROR with an empty answer for a name that exists without that
type (or only has names below it), NXDOMAIN for a name not in the zone, REFUSED for a name
outside it. A UDP answer larger than 512 octets, or than the EDNS buffer size the query
advertises, is sent empty with the TC flag so that the client asks again over TCP. One
thread serves both sockets; leaving the `with` block stops it and closes every socket.

Several zones: a question is answered from the deepest zone that contains its name, except
that DS at a zone's apex is answered from the parent zone when the server has it, as a real
server does at a zone cut. Delegations are not otherwise served: no referrals, a name at or
below an NS record of a parent zone is looked up in that zone like any other.

DNSSEC: when the query sets the DO bit, the RRSIGs the zone holds for every RRset returned
(answer and authority) come along, and a negative answer carries, after the SOA, the NSEC
owned by the name when there is one (NODATA); otherwise (NXDOMAIN, or NODATA at an empty
non-terminal) every NSEC and NSEC3 RRset of the zone, rather than only the covering ones,
which is enough for a test server. Zones are served as given: sign them beforehand (with
`dns.dnssec.sign_zone`, for instance).
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Self

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

HOST = "127.0.0.1"
UDP_LIMIT = 512
TCP_LIMIT = 65535


class ZoneServer:
    """An authoritative server for one zone, on 127.0.0.1 and a port the OS chose.

    `others` adds more zones, by origin: zone text or `dns.zone.Zone` objects.
    """

    def __init__(
        self,
        zone_text: str | dns.zone.Zone,
        origin: str,
        *,
        others: Mapping[str, str | dns.zone.Zone] | None = None,
    ) -> None:
        self.origin = dns.name.from_text(origin)
        self.zone = _load(zone_text, self.origin)
        self.zones: dict[dns.name.Name, dns.zone.Zone] = {self.origin: self.zone}
        for other, text in (others or {}).items():
            name = dns.name.from_text(other)
            self.zones[name] = _load(text, name)
        self.host = HOST
        self.port = 0
        self.udp_queries = 0
        self.tcp_queries = 0
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @classmethod
    def multi(cls, zones: Mapping[str, str | dns.zone.Zone]) -> Self:
        """A server for several zones, by origin (zone text or `dns.zone.Zone` objects)."""
        if not zones:
            raise ValueError("a ZoneServer needs at least one zone")
        (origin, first), *rest = zones.items()
        return cls(first, origin, others=dict(rest))

    def zone_for(
        self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> dns.name.Name | None:
        """The origin of the zone that answers (qname, rdtype), or None if none contains it.

        The deepest zone containing the name, or its parent for DS at the zone's apex.
        """
        containing = sorted(
            (origin for origin in self.zones if qname.is_subdomain(origin)), key=len, reverse=True
        )
        if not containing:
            return None
        if rdtype == dns.rdatatype.DS and containing[0] == qname and len(containing) > 1:
            return containing[1]
        return containing[0]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bind UDP and TCP on the same free loopback port and serve in a thread."""
        self._udp, self._tcp = _bind_pair()
        self.port = self._udp.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="ZoneServer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close every socket."""
        self._stopping.set()
        if self._wake_w is not None:
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                raise RuntimeError("the test DNS server thread did not stop")
            self._thread = None
        for sock in (self._udp, self._tcp, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._udp = self._tcp = self._wake_r = self._wake_w = None

    def _serve(self) -> None:
        assert self._udp is not None
        assert self._tcp is not None
        assert self._wake_r is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ)
            selector.register(self._tcp, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._udp:
                        self._serve_udp(self._udp)
                    elif key.fileobj is self._tcp:
                        self._serve_tcp(self._tcp)

    def _serve_udp(self, sock: socket.socket) -> None:
        wire, peer = sock.recvfrom(TCP_LIMIT)
        self.udp_queries += 1
        reply = self.answer(wire, tcp=False)
        if reply is not None:
            sock.sendto(reply, peer)

    def _serve_tcp(self, listener: socket.socket) -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(2)
            try:
                while not self._stopping.is_set():
                    header = _recv_exactly(conn, 2)
                    if header is None:
                        return
                    wire = _recv_exactly(conn, struct.unpack("!H", header)[0])
                    if wire is None:
                        return
                    self.tcp_queries += 1
                    reply = self.answer(wire, tcp=True)
                    if reply is None:
                        return
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                return

    def answer(self, wire: bytes, *, tcp: bool) -> bytes | None:
        """The reply to one query in wire format, or None to ignore it."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        response = dns.message.make_response(query)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response.to_wire()
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        origin = self.zone_for(question.name, question.rdtype)
        if question.rdclass != dns.rdataclass.IN or origin is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response.to_wire()

        response.flags |= dns.flags.AA
        dnssec = query.edns >= 0 and bool(query.ednsflags & dns.flags.DO)
        if dnssec:
            response.want_dnssec(True)
        self._fill(response, origin, question.name, question.rdtype, dnssec=dnssec)

        if tcp:
            limit = TCP_LIMIT
        else:
            limit = max(UDP_LIMIT, query.payload) if query.edns >= 0 else UDP_LIMIT
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer.clear()
            response.authority.clear()
            response.additional.clear()
            response.flags |= dns.flags.TC
            return response.to_wire(max_size=limit)

    def _fill(
        self,
        response: dns.message.Message,
        origin: dns.name.Name,
        qname: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        *,
        dnssec: bool,
    ) -> None:
        zone = self.zones[origin]
        node = zone.get_node(qname)
        if node is not None:
            for rtype in (rdtype, dns.rdatatype.CNAME):
                rdataset = node.get_rdataset(dns.rdataclass.IN, rtype)
                if rdataset is not None:
                    _add(response.answer, node, qname, rdataset, dnssec=dnssec)
                    return
        elif not any(name.is_subdomain(qname) for name in zone.nodes):
            response.set_rcode(dns.rcode.NXDOMAIN)
        apex = zone.get_node(origin)
        soa = zone.get_rdataset(origin, dns.rdatatype.SOA)
        if apex is not None and soa is not None:
            _add(response.authority, apex, origin, soa, dnssec=dnssec)
        if not dnssec:
            return
        proofs = (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)
        own = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC) if node else None
        if node is not None and own is not None:
            _add(response.authority, node, qname, own, dnssec=True)
            return
        for name, other in sorted(zone.nodes.items()):
            for rdataset in other.rdatasets:
                if rdataset.rdtype in proofs:
                    _add(response.authority, other, name, rdataset, dnssec=True)


def _load(zone: str | dns.zone.Zone, origin: dns.name.Name) -> dns.zone.Zone:
    """A zone with absolute names, from zone text or a `dns.zone.Zone` (copied as text)."""
    text = zone if isinstance(zone, str) else zone.to_text()
    return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)


def _add(
    section: list[dns.rrset.RRset],
    node: dns.node.Node,
    name: dns.name.Name,
    rdataset: dns.rdataset.Rdataset,
    *,
    dnssec: bool,
) -> None:
    """Append an RRset to a response section, and with `dnssec` the RRSIGs covering it."""
    section.append(dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset)))
    if not dnssec:
        return
    sigs = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, rdataset.rdtype)
    if sigs is not None:
        section.append(dns.rrset.from_rdata_list(name, sigs.ttl, list(sigs)))


def _bind_pair() -> tuple[socket.socket, socket.socket]:
    """A UDP and a listening TCP socket on the same OS-chosen port of 127.0.0.1."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((HOST, 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind((HOST, udp.getsockname()[1]))
        except OSError:
            tcp.close()
            udp.close()
            continue
        tcp.listen(8)
        return udp, tcp
    raise RuntimeError("no loopback port free for both UDP and TCP")


def _recv_exactly(conn: socket.socket, size: int) -> bytes | None:
    """`size` octets from a TCP connection, or None if it closes first."""
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
