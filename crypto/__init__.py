"""Keys, signatures and sealed boxes for mutualaid.

This package is the only code in the tree that touches ``cryptography`` or
``nacl``; everything else uses the names re-exported here. Errors are in
``crypto.errors``. A running node needs only ``nacl`` (libsodium): the
primitives are in ``crypto.primitives``, and ``cryptography`` is imported
only to read or write an encrypted or foreign key file (``crypto.keyfile``)
and for the reference verify the benchmarks compare with.
"""

from crypto.errors import BadSignature, CryptoError, InvalidKey, KeyFileError, SealError
from crypto.identity import NodeIdentity
from crypto.keyfile import read_key_file
from crypto.keytext import public_key_from_text, public_key_to_text
from crypto.passphrase import open_seed, seal_seed
from crypto.recovery import RECOVERY_WORDS, RecoveryKey
from crypto.sealing import seal
from crypto.signing import Domain, signing_message, verify, verify_message

__all__ = [
    "RECOVERY_WORDS",
    "BadSignature",
    "CryptoError",
    "Domain",
    "InvalidKey",
    "KeyFileError",
    "NodeIdentity",
    "RecoveryKey",
    "SealError",
    "open_seed",
    "public_key_from_text",
    "public_key_to_text",
    "read_key_file",
    "seal",
    "seal_seed",
    "signing_message",
    "verify",
    "verify_message",
]
