"""ES256 (ECDSA over NIST P-256 with SHA-256) for JWTs, in pure Python.

The Lambda runtime has no ``cryptography`` package; App Store Connect wants its bearer tokens
signed with the team's ``.p8`` key. This module reads that key (PKCS#8 ``PRIVATE KEY`` or SEC1
``EC PRIVATE KEY`` PEM, or the bare base64 DER), signs with a deterministic nonce (RFC 6979, so
no random source can weaken it) and returns the raw ``r || s`` signature JWS requires (RFC 7518
section 3.4). ``verify`` is here for tests and for checking a configured key.

Python integers are not constant-time: the timing of a signature may leak something about the
key to someone who can time many signatures precisely. Here one token is signed per source every
several minutes, inside a Lambda, so that is not a practical channel.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# --- the curve (SEC 2 / FIPS 186-4 secp256r1) ----------------------------------------------------

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)
SIZE = 32  # bytes in a coordinate, a scalar, and each half of a signature

Point = tuple[int, int]
_Jacobian = tuple[int, int, int]  # (X, Y, Z) stands for (X/Z², Y/Z³); Z == 0 is the point at infinity

_INFINITY: _Jacobian = (1, 1, 0)

# DER object identifiers, encoded
_EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")  # 1.2.840.10045.2.1
_PRIME256V1 = bytes.fromhex("2a8648ce3d030107")  # 1.2.840.10045.3.1.7


def _double(point: _Jacobian) -> _Jacobian:
    x, y, z = point
    if z == 0 or y == 0:
        return _INFINITY
    y2 = y * y % P
    s = 4 * x * y2 % P
    z2 = z * z % P
    m = 3 * (x - z2) * (x + z2) % P  # a = -3
    x3 = (m * m - 2 * s) % P
    y3 = (m * (s - x3) - 8 * y2 * y2) % P
    z3 = 2 * y * z % P
    return x3, y3, z3


def _add(first: _Jacobian, second: _Jacobian) -> _Jacobian:
    x1, y1, z1 = first
    x2, y2, z2 = second
    if z1 == 0:
        return second
    if z2 == 0:
        return first
    z1z1, z2z2 = z1 * z1 % P, z2 * z2 % P
    u1, u2 = x1 * z2z2 % P, x2 * z1z1 % P
    s1, s2 = y1 * z2 * z2z2 % P, y2 * z1 * z1z1 % P
    if u1 == u2:
        return _double(first) if s1 == s2 else _INFINITY
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    h2 = h * h % P
    h3 = h * h2 % P
    u1h2 = u1 * h2 % P
    x3 = (r * r - h3 - 2 * u1h2) % P
    y3 = (r * (u1h2 - x3) - s1 * h3) % P
    z3 = h * z1 * z2 % P
    return x3, y3, z3


def _multiply(scalar: int, point: Point) -> _Jacobian:
    result = _INFINITY
    addend: _Jacobian = (point[0], point[1], 1)
    while scalar:
        if scalar & 1:
            result = _add(result, addend)
        addend = _double(addend)
        scalar >>= 1
    return result


def _affine(point: _Jacobian) -> Point | None:
    x, y, z = point
    if z == 0:
        return None
    inverse = pow(z, -1, P)
    inverse2 = inverse * inverse % P
    return x * inverse2 % P, y * inverse2 * inverse % P


def on_curve(point: Point) -> bool:
    x, y = point
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def public_point(private: int) -> Point:
    """The public key Q = d·G of a private scalar."""
    if not 1 <= private < N:
        raise ValueError("the private scalar is out of range")
    point = _affine(_multiply(private, G))
    if point is None:  # pragma: no cover - impossible for 1 <= d < n
        raise ValueError("the private scalar is out of range")
    return point


# --- RFC 6979 deterministic nonces ---------------------------------------------------------------


def _bits2int(data: bytes) -> int:
    value = int.from_bytes(data, "big")
    excess = len(data) * 8 - N.bit_length()
    return value >> excess if excess > 0 else value


def _nonces(private: int, digest: bytes) -> Iterator[int]:
    """RFC 6979 section 3.2 with HMAC-SHA256: candidate k values, in order."""
    x = private.to_bytes(SIZE, "big")
    h1 = (_bits2int(digest) % N).to_bytes(SIZE, "big")
    v = b"\x01" * 32
    k = b"\x00" * 32
    k = hmac.new(k, v + b"\x00" + x + h1, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    k = hmac.new(k, v + b"\x01" + x + h1, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    while True:
        v = hmac.new(k, v, hashlib.sha256).digest()  # qlen == hlen: one block is enough
        candidate = _bits2int(v)
        if 1 <= candidate < N:
            yield candidate
        k = hmac.new(k, v + b"\x00", hashlib.sha256).digest()
        v = hmac.new(k, v, hashlib.sha256).digest()


def sign(private: int, message: bytes) -> bytes:
    """The ES256 signature of ``message``: r and s, 32 bytes each, big-endian."""
    if not 1 <= private < N:
        raise ValueError("the private scalar is out of range")
    digest = hashlib.sha256(message).digest()
    z = _bits2int(digest) % N
    for k in _nonces(private, digest):
        point = _affine(_multiply(k, G))
        if point is None:  # pragma: no cover - k < n never gives infinity
            continue
        r = point[0] % N
        if r == 0:  # pragma: no cover - probability 2^-256
            continue
        s = pow(k, -1, N) * (z + r * private) % N
        if s == 0:  # pragma: no cover - probability 2^-256
            continue
        return r.to_bytes(SIZE, "big") + s.to_bytes(SIZE, "big")
    raise AssertionError("unreachable")  # pragma: no cover


def verify(public: Point, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (raw r || s) is a valid ES256 signature of ``message`` by ``public``."""
    if len(signature) != 2 * SIZE or not on_curve(public):
        return False
    r = int.from_bytes(signature[:SIZE], "big")
    s = int.from_bytes(signature[SIZE:], "big")
    if not (1 <= r < N and 1 <= s < N):
        return False
    z = _bits2int(hashlib.sha256(message).digest()) % N
    w = pow(s, -1, N)
    point = _affine(_add(_multiply(z * w % N, G), _multiply(r * w % N, public)))
    return point is not None and point[0] % N == r


# --- keys: PEM and the DER inside it ------------------------------------------------------------


def _tlv(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """One DER element at ``offset``: its tag, its contents and the offset after it."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[offset]
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    end = offset + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, data[offset:end], end


def _elements(data: bytes) -> list[tuple[int, bytes]]:
    found = []
    offset = 0
    while offset < len(data):
        tag, contents, offset = _tlv(data, offset)
        found.append((tag, contents))
    return found


_SEQUENCE, _INTEGER, _OCTET_STRING, _OID = 0x30, 0x02, 0x04, 0x06


def _sequence(der: bytes) -> list[tuple[int, bytes]]:
    tag, contents, end = _tlv(der, 0)
    if tag != _SEQUENCE or end != len(der):
        raise ValueError("not a DER SEQUENCE")
    return _elements(contents)


def _from_sec1(der: bytes) -> int:
    """RFC 5915 ECPrivateKey: SEQUENCE { 1, OCTET STRING d, [0] curve OID OPTIONAL, [1] public OPTIONAL }."""
    fields = _sequence(der)
    if len(fields) < 2 or fields[0] != (_INTEGER, b"\x01") or fields[1][0] != _OCTET_STRING:
        raise ValueError("not an EC private key")
    for tag, contents in fields[2:]:
        if tag == 0xA0:  # the curve, when named here
            (inner,) = _elements(contents)
            if inner != (_OID, _PRIME256V1):
                raise ValueError("the key is not on P-256")
    raw = fields[1][1]
    if len(raw) > SIZE:
        raise ValueError("the private key is too long for P-256")
    return int.from_bytes(raw, "big")


def _from_pkcs8(der: bytes) -> int:
    """RFC 5208 PrivateKeyInfo: SEQUENCE { 0, AlgorithmIdentifier, OCTET STRING ECPrivateKey, ... }."""
    fields = _sequence(der)
    if len(fields) < 3 or fields[0][0] != _INTEGER or fields[1][0] != _SEQUENCE or fields[2][0] != _OCTET_STRING:
        raise ValueError("not a PKCS#8 private key")
    if fields[0][1] not in (b"\x00", b"\x01"):
        raise ValueError("unsupported PKCS#8 version")
    algorithm = _elements(fields[1][1])
    if not algorithm or algorithm[0] != (_OID, _EC_PUBLIC_KEY):
        raise ValueError("not an EC key")
    if len(algorithm) < 2 or algorithm[1] != (_OID, _PRIME256V1):
        raise ValueError("the key is not on P-256")
    return _from_sec1(fields[2][1])


_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.DOTALL)


def load_private_key(text: str) -> int:
    """The private scalar of a P-256 key given as PEM (``PRIVATE KEY`` or ``EC PRIVATE KEY``) or as
    the bare base64 of its PKCS#8 DER. ValueError when it is anything else; the message never
    quotes the key."""
    # Pasted into JSON, a PEM's line breaks sometimes arrive as the two characters "\n".
    text = text.replace("\\n", "\n").replace("\\r", "")
    match = _PEM.search(text)
    label, body = (match.group(1), match.group(2)) if match else ("PRIVATE KEY", text)
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key is not base64") from None
    if label == "EC PRIVATE KEY":
        private = _from_sec1(der)
    elif label == "PRIVATE KEY":
        private = _from_pkcs8(der)
    else:
        raise ValueError("not a private key PEM")
    if not 1 <= private < N:
        raise ValueError("the private scalar is out of range")
    return private


# --- JWT ----------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(document: Mapping[str, Any]) -> str:
    return b64url(json.dumps(document, separators=(",", ":"), sort_keys=False).encode())


@dataclass(frozen=True)
class SigningKey:
    private: int

    @classmethod
    def from_pem(cls, text: str) -> SigningKey:
        return cls(load_private_key(text))

    @property
    def public(self) -> Point:
        return public_point(self.private)

    def jwt(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        """A compact JWS: base64url(header).base64url(claims).base64url(r || s)."""
        signing_input = f"{_segment({**header, 'alg': 'ES256'})}.{_segment(claims)}"
        return f"{signing_input}.{b64url(sign(self.private, signing_input.encode('ascii')))}"
