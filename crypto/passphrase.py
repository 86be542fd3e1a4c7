"""A node key sealed with a passphrase, for a backup that leaves the machine.

Argon2id (libsodium's ``crypto_pwhash``) stretches the passphrase into a key
for XSalsa20-Poly1305 (``SecretBox``), which seals the 32-byte seed. The
stretching costs are kept in the sealed text, so opening it needs nothing
else; they are bounded on the way in, so a crafted file cannot make the
opener spend unbounded memory. (PKCS8's PBKDF2, what ``identity.key`` with a
passphrase gets from ``cryptography``, runs 2,048 rounds: too few for a file
that travels.)
"""

from __future__ import annotations

import json
import secrets

import nacl.exceptions
import nacl.pwhash
import nacl.secret

from crypto.errors import KeyFileError

MAGIC = "mutualaid-sealed-seed-1"
OPS = 3
MEM = 64 * 1024 * 1024
"""64 MiB, three passes: seconds on a Raspberry Pi, and within a 512 MB board's memory."""
MAX_OPS, MAX_MEM = 10, 1024 * 1024 * 1024


def seal_seed(seed: bytes, passphrase: bytes) -> bytes:
    salt = secrets.token_bytes(nacl.pwhash.argon2id.SALTBYTES)
    key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=OPS, memlimit=MEM)
    box = nacl.secret.SecretBox(key).encrypt(seed)
    return json.dumps({"format": MAGIC, "kdf": "argon2id", "ops": OPS, "mem": MEM, "salt": salt.hex(),
                       "box": bytes(box).hex()}).encode()  # fmt: skip


def open_seed(sealed: bytes, passphrase: bytes) -> bytes:
    """The seed, or ``KeyFileError`` saying whether the file or the passphrase is wrong."""
    try:
        fields = json.loads(sealed)
        ops, mem, salt, box = int(fields["ops"]), int(fields["mem"]), bytes.fromhex(fields["salt"]), fields["box"]
        ok = fields["format"] == MAGIC and fields["kdf"] == "argon2id" and 1 <= ops <= MAX_OPS
        ok = ok and 8192 <= mem <= MAX_MEM and len(salt) == nacl.pwhash.argon2id.SALTBYTES
        box = bytes.fromhex(box)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise KeyFileError("the sealed key is not one mutualaid wrote, or it is damaged")
    key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=ops, memlimit=mem)
    try:
        return bytes(nacl.secret.SecretBox(key).decrypt(box))
    except nacl.exceptions.CryptoError:
        raise KeyFileError("the passphrase does not open the sealed key") from None
