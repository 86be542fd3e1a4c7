# Signatures: the exact signed-message format, domain separation, and the rule
# that verification fails only with BadSignature whatever it is handed.

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import BadSignature, Domain, NodeIdentity, signing_message, verify, verify_message

# RFC 8032 section 7.1, TEST 1: an empty message, signed with no domain prefix.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
# Order of the Ed25519 base point.
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493

IDENTITY = NodeIdentity.from_seed(bytes(range(32)))


def flip_bit(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_signing_message_format() -> None:
    assert signing_message(Domain.RECORD, b"abc") == b"mutualaid/v1/record\x00abc"
    assert signing_message(Domain.PEER_REQUEST, b"") == b"mutualaid/v1/peer-request\x00"


def test_domain_prefixes_are_prefix_free() -> None:
    prefixes = [signing_message(domain, b"") for domain in Domain]
    for a in prefixes:
        for b in prefixes:
            assert a == b or not b.startswith(a)


def test_rfc8032_vector() -> None:
    identity = NodeIdentity.from_seed(RFC8032_SEED)
    assert identity.public_key == RFC8032_PUBLIC
    assert identity.sign_message(b"") == RFC8032_SIGNATURE
    verify_message(RFC8032_PUBLIC, b"", RFC8032_SIGNATURE)


@given(payload=st.binary(max_size=2048), domain=st.sampled_from(Domain))
def test_sign_then_verify(payload: bytes, domain: Domain) -> None:
    signature = IDENTITY.sign(domain, payload)
    assert len(signature) == 64
    verify(IDENTITY.public_key, domain, payload, signature)
    verify_message(IDENTITY.public_key, signing_message(domain, payload), signature)
    assert IDENTITY.sign_message(signing_message(domain, payload)) == signature


def test_signature_does_not_cross_domains() -> None:
    signature = IDENTITY.sign(Domain.RECORD, b"offer: bread")
    with pytest.raises(BadSignature):
        verify(IDENTITY.public_key, Domain.PEER_REQUEST, b"offer: bread", signature)
    with pytest.raises(BadSignature):
        verify_message(IDENTITY.public_key, b"offer: bread", signature)


def test_other_key_does_not_verify() -> None:
    other = NodeIdentity.from_seed(bytes([7]) * 32)
    signature = IDENTITY.sign(Domain.RECORD, b"x")
    with pytest.raises(BadSignature):
        verify(other.public_key, Domain.RECORD, b"x", signature)


def test_every_bit_flip_fails() -> None:
    message = signing_message(Domain.RECORD, b"need: blankets")
    key, signature = IDENTITY.public_key, IDENTITY.sign_message(message)
    for bit in range(len(message) * 8):
        with pytest.raises(BadSignature):
            verify_message(key, flip_bit(message, bit), signature)
    for bit in range(len(signature) * 8):
        with pytest.raises(BadSignature):
            verify_message(key, message, flip_bit(signature, bit))
    for bit in range(len(key) * 8):
        with pytest.raises(BadSignature):
            verify_message(flip_bit(key, bit), message, signature)


def test_every_byte_replacement_fails() -> None:
    message = b"m"
    key, signature = IDENTITY.public_key, IDENTITY.sign_message(message)
    for index in range(64):
        for value in (0x00, 0xFF):
            changed = signature[:index] + bytes([value]) + signature[index + 1 :]
            if changed != signature:
                with pytest.raises(BadSignature):
                    verify_message(key, message, changed)


@pytest.mark.parametrize("length", [0, 1, 31, 63, 65, 128])
def test_wrong_length_signature(length: int) -> None:
    signature = (IDENTITY.sign_message(b"m") * 3)[:length]
    with pytest.raises(BadSignature, match="signature must be 64 bytes"):
        verify_message(IDENTITY.public_key, b"m", signature)


def test_short_signature_cannot_borrow_from_message() -> None:
    # sig[:63] + message would begin with the real signature if the length
    # check were missing; it must still be refused.
    message = b"m"
    signature = IDENTITY.sign_message(message)
    with pytest.raises(BadSignature):
        verify_message(IDENTITY.public_key, signature[63:] + message, signature[:63])


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_wrong_length_key(length: int) -> None:
    signature = IDENTITY.sign_message(b"m")
    with pytest.raises(BadSignature, match="public key must be 32 bytes"):
        verify_message((IDENTITY.public_key * 2)[:length], b"m", signature)


def test_non_canonical_s_is_rejected() -> None:
    # S + L verifies under lax rules; RFC 8032 requires S < L.
    message = b"malleable?"
    signature = IDENTITY.sign_message(message)
    s = int.from_bytes(signature[32:], "little") + GROUP_ORDER
    assert s < 2**256
    with pytest.raises(BadSignature):
        verify_message(IDENTITY.public_key, message, signature[:32] + s.to_bytes(32, "little"))


def test_small_order_key_is_rejected() -> None:
    # The neutral point signs everything under lax rules.
    neutral = (1).to_bytes(32, "little")
    neutral_signature = neutral + bytes(32)
    with pytest.raises(BadSignature):
        verify_message(neutral, b"anything", neutral_signature)


@given(key=st.binary(max_size=40), message=st.binary(max_size=64), signature=st.binary(max_size=80))
def test_arbitrary_input_raises_only_bad_signature(key: bytes, message: bytes, signature: bytes) -> None:
    with pytest.raises(BadSignature):
        verify_message(key, message, signature)
