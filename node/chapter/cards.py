"""Member cards, invite codes and ballot receipts: how they look, and what the node keeps of them.

All three are written in Crockford's base32 (digits and capitals without I,
L, O, U), so they can be read aloud, copied from paper and typed on a phone;
reading one forgives case, spaces, dashes and the letters people confuse
with digits (O for 0, I and L for 1).

- An **invite code** is 12 characters (60 bits), shown as ``XXXX-XXXX-XXXX``.
  Guessing is hopeless within the redemption limits (docs/CHAPTER.md gives
  the numbers). Single use, expiring.
- A **member card** is ``card-`` and 25 characters (125 bits), shown in
  groups of five. It is the member: whoever holds it acts as them, so it is
  shown once, never sent to peers and never logged.
- A **receipt** is derived from the card and the proposal (HMAC-SHA-256 keyed
  by the card), so only the card's holder, or the node while they vote, can
  make it again; the receipts list shows its hash beside the ballot.

The node keeps only SHA-256 hashes of cards and codes (domain-separated),
never the secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
INVITE_CHARS = 12
CARD_CHARS = 25
CARD_PREFIX = "card-"
INVITE_PATTERN = "^[0-9A-Za-z -]{12,24}$"
"""What an invite code may look like as typed (12 characters of base32, with dashes or spaces)."""
MAX_INVITES = 50
"""Invite codes made at once: a founding meeting's sheet (a member's are bounded by the quota too)."""
CARD_PATTERN = "^(card-|CARD-)?[0-9A-Za-z -]{25,40}$"


def _random(chars: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(chars))


def _groups(text: str, size: int = 5) -> str:
    return "-".join(text[i : i + size] for i in range(0, len(text), size))


def _plain(text: str) -> str:
    """The base32 characters of a typed secret, or "" if it holds anything else."""
    plain = "".join(text.split()).replace("-", "").upper().translate(_CONFUSABLE)
    return plain if all(c in ALPHABET for c in plain) else ""


def new_invite() -> str:
    return _groups(_random(INVITE_CHARS), 4)


def new_card() -> str:
    return CARD_PREFIX + _groups(_random(CARD_CHARS))


def invite_hash(code: str) -> bytes | None:
    """What the node keeps of an invite code; None for text that cannot be one."""
    plain = _plain(code)
    if len(plain) != INVITE_CHARS:
        return None
    return hashlib.sha256(b"mutualaid invite\x00" + plain.encode()).digest()


def _card_plain(card: str) -> str:
    """A card's 25 characters, with or without its ``card`` prefix; "" if it is not one."""
    plain = _plain(card)
    if len(plain) == CARD_CHARS + 4 and plain.startswith("CARD"):
        plain = plain[4:]
    return plain if len(plain) == CARD_CHARS else ""


def looks_like_card(text: str) -> bool:
    return bool(_card_plain(text))


def card_hash(card: str) -> bytes | None:
    """What the node keeps of a card; None for text that cannot be one."""
    plain = _card_plain(card)
    if not plain:
        return None
    return hashlib.sha256(b"mutualaid card\x00" + plain.encode()).digest()


def receipt(card: str, proposal_id: bytes) -> bytes:
    """A voter's receipt for one proposal: only their card makes it."""
    plain = _card_plain(card)
    assert plain, "a receipt is made for a card already checked"
    return hmac.new(plain.encode(), b"mutualaid receipt\x00" + proposal_id, hashlib.sha256).digest()[:16]


def card_link(base_url: str, card: str) -> str:
    """The page's address that signs this card in (the card rides in the fragment,
    which no browser sends to a server or puts in a Referer)."""
    return f"{base_url.rstrip('/')}/#/card/{card}"


def qr_svg(text: str) -> str:
    """``text`` as a QR code, an SVG document (dark modules on white, with its quiet zone).
    A document of its own, so it names the SVG namespace: without it a browser
    shows the answer (an ``<img>`` of it, a ``data:`` URL) as a broken image."""
    import io  # noqa: PLC0415

    import segno  # noqa: PLC0415 - loaded only to draw a card

    out = io.BytesIO()
    segno.make(text, error="m").save(
        out, kind="svg", xmldecl=False, nl=False, scale=6, border=4, dark="#000", light="#fff"
    )
    return out.getvalue().decode()


def qr_text(text: str) -> str:
    """``text`` as a QR code for a terminal: two rows a line, in block characters."""
    import io  # noqa: PLC0415

    import segno  # noqa: PLC0415

    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()
