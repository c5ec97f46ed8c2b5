"""The pure-Python ES256 signer checked against the ``cryptography`` package (a test-only dependency)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from replywatch.connectors import es256

ECDSA = ec.ECDSA(hashes.SHA256())
DETERMINISTIC = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pkcs8(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def sec1(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def raw(der_signature: bytes) -> bytes:
    r, s = decode_dss_signature(der_signature)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def der(raw_signature: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big"))


def point(key: ec.EllipticCurvePrivateKey) -> es256.Point:
    numbers = key.public_key().public_numbers()
    return numbers.x, numbers.y


# --- RFC 6979 appendix A.2.5: P-256 with SHA-256 --------------------------------------------------

RFC_KEY = 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721
RFC_PUBLIC = (
    0x60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6,
    0x7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299,
)


@pytest.mark.parametrize(
    ("message", "r", "s"),
    [
        (
            b"sample",
            0xEFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716,
            0xF7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8,
        ),
        (
            b"test",
            0xF1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367,
            0x019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083,
        ),
    ],
)
def test_rfc6979_test_vectors(message: bytes, r: int, s: int) -> None:
    assert es256.public_point(RFC_KEY) == RFC_PUBLIC
    assert es256.sign(RFC_KEY, message) == r.to_bytes(32, "big") + s.to_bytes(32, "big")


# --- against cryptography -----------------------------------------------------------------------


def test_signatures_verify_with_cryptography_and_equal_its_deterministic_ones() -> None:
    for index in range(12):
        key = new_key()
        message = f"eyJhbGciOiJFUzI1NiJ9.payload-{index}".encode() * (index + 1)
        private = es256.load_private_key(pkcs8(key))
        assert private == key.private_numbers().private_value
        signature = es256.sign(private, message)
        assert len(signature) == 64
        key.public_key().verify(der(signature), message, ECDSA)  # raises if invalid
        # RFC 6979 fixes k: the same bytes as OpenSSL's deterministic ECDSA
        assert signature == raw(key.sign(message, DETERMINISTIC))


def test_a_signature_by_cryptography_verifies_here_and_a_tampered_one_does_not() -> None:
    for _ in range(8):
        key = new_key()
        message = b"header.claims"
        signature = raw(key.sign(message, ECDSA))  # randomised k
        assert es256.verify(point(key), message, signature)
        assert not es256.verify(point(key), b"header.claimz", signature)
        flipped = bytes([signature[0] ^ 1]) + signature[1:]
        assert not es256.verify(point(key), message, flipped)
        assert not es256.verify(point(new_key()), message, signature)


def test_verify_rejects_malformed_signatures_and_points() -> None:
    private = es256.load_private_key(pkcs8(new_key()))
    public = es256.public_point(private)
    signature = es256.sign(private, b"m")
    assert es256.verify(public, b"m", signature)
    assert not es256.verify(public, b"m", signature[:63])
    assert not es256.verify(public, b"m", bytes(64))
    assert not es256.verify(public, b"m", es256.N.to_bytes(32, "big") + signature[32:])
    assert not es256.verify((public[0], public[1] + 1), b"m", signature)


def test_a_signature_by_cryptography_fails_against_the_wrong_message() -> None:
    key = new_key()
    with pytest.raises(InvalidSignature):
        key.public_key().verify(der(es256.sign(key.private_numbers().private_value, b"a")), b"b", ECDSA)


def test_public_point_equals_cryptographys() -> None:
    key = new_key()
    assert es256.public_point(key.private_numbers().private_value) == point(key)
    assert es256.on_curve(point(key))


# --- reading keys -------------------------------------------------------------------------------


def test_pkcs8_sec1_bare_base64_and_escaped_newlines_all_load() -> None:
    key = new_key()
    expected = key.private_numbers().private_value
    body = "".join(pkcs8(key).strip().splitlines()[1:-1])
    assert es256.load_private_key(pkcs8(key)) == expected
    assert es256.load_private_key(sec1(key)) == expected
    assert es256.load_private_key(body) == expected
    assert es256.load_private_key(pkcs8(key).replace("\n", "\\n")) == expected
    assert es256.load_private_key("  \n" + pkcs8(key) + "\n\n") == expected


def test_an_apple_style_p8_with_the_public_key_loads() -> None:
    # Apple's .p8 files are PKCS#8 whose inner ECPrivateKey carries the public key ([1]) too
    key = new_key()
    text = pkcs8(key)
    der_bytes = base64.b64decode("".join(text.strip().splitlines()[1:-1]))
    assert bytes.fromhex("a144034200") in der_bytes  # [1] BIT STRING with the public point
    assert es256.load_private_key(text) == key.private_numbers().private_value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----",
    ],
)
def test_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        es256.load_private_key(text)


def test_keys_on_other_curves_or_algorithms_are_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        es256.load_private_key(pkcs8(p384))
    with pytest.raises(ValueError, match="P-256"):
        es256.load_private_key(sec1(p384))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ValueError, match="not an EC key"):
        es256.load_private_key(rsa_pem)


def test_errors_never_quote_the_key() -> None:
    text = pkcs8(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ValueError) as caught:
        es256.load_private_key(text)
    body = "".join(text.strip().splitlines()[1:-1])
    assert body[:20] not in str(caught.value)


def test_out_of_range_scalars_are_refused() -> None:
    for bad in (0, es256.N):
        with pytest.raises(ValueError):
            es256.sign(bad, b"m")
        with pytest.raises(ValueError):
            es256.public_point(bad)


# --- JWT ----------------------------------------------------------------------------------------


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_jwt_is_a_compact_jws_that_cryptography_verifies() -> None:
    key = new_key()
    token = es256.SigningKey.from_pem(pkcs8(key)).jwt(
        {"alg": "ES256", "kid": "2X9R4HXF34", "typ": "JWT"},
        {"iss": "57246542-96fe-1a63-e053-0824d011072a", "iat": 1700000000, "exp": 1700001200},
    )
    header, claims, signature = token.split(".")
    assert "=" not in token
    assert json.loads(b64decode(header)) == {"alg": "ES256", "kid": "2X9R4HXF34", "typ": "JWT"}
    assert json.loads(b64decode(claims))["exp"] == 1700001200
    assert len(b64decode(signature)) == 64
    key.public_key().verify(der(b64decode(signature)), f"{header}.{claims}".encode(), ECDSA)
