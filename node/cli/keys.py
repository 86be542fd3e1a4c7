"""The node key and the chapter's recovery key: key show, key recovery, key rotate.

The recovery key's words are printed once, to the terminal of whoever makes
it (``init``, or ``key recovery`` for a node made before there were any),
with a QR code of them: they go on paper, off the node, and are never
written to a file or a log. ``key rotate`` reads them back (from a file,
standard input, or typed without echo) to name a new node key
(node/operate/rotate.py; docs/OPERATING.md, "When the node key is lost or leaks").
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from pathlib import Path
from typing import Any

from crypto import InvalidKey, KeyFileError, NodeIdentity, RecoveryKey, public_key_from_text, public_key_to_text
from node.cli.admin import data_dir_option
from node.cli.client import CliError, ExitCode, print_answer
from node.core.config import chosen_data_dir
from node.core.datadir import IDENTITY_FILE, RECOVERY_FILE, lock_data_dir, read_recovery_key, write_recovery_key

MAX_WORDS_BYTES = 4096
"""24 words fit many times over; a longer file is not a recovery key."""


def register(sub: Any) -> None:
    key = sub.add_parser(
        "key",
        help="the node key and the chapter's recovery key: show, make a recovery key, rotate to a new node key",
        description="A node signs with its node key (identity.key). The chapter's recovery key, kept on paper "
        "off the node, outranks it: with it the chapter names a new node key when the old one is lost or "
        "stolen, and peers follow.",
    )
    actions = key.add_subparsers(dest="action", required=True, metavar="ACTION", title="actions",
                                 help="what to do with the keys")  # fmt: skip

    show = actions.add_parser(
        "show",
        help="the node key, the recovery key it published, and any retired key",
        description="Print the node key peers know this node by, the public half of the chapter's recovery "
        "key (the words themselves are never on the node), and the key a rotation retired, if any.",
    )
    data_dir_option(show, "the node's data directory")
    show.add_argument("--json", action="store_true", help="print it as JSON, for scripts")
    show.set_defaults(handler=cmd_show)

    recovery = actions.add_parser(
        "recovery",
        help="make the chapter's recovery key, for a node made without one (shown once: write it down)",
        description="Make the chapter's recovery key and print it once, as 24 words and a QR code, to keep "
        f"on paper away from the node. Only its public half is kept ({RECOVERY_FILE}); the node's profile "
        "names it from its next start and peers pin it. A node that has one cannot make another.",
    )
    data_dir_option(recovery, "the node's data directory")
    recovery.add_argument("--json", action="store_true", help="print the words as JSON, for scripts")
    recovery.set_defaults(handler=cmd_recovery)

    rotate = actions.add_parser(
        "rotate",
        help="replace a lost or stolen node key with a new one, signed over by the recovery key",
        description="With the node stopped: make a new node key, sign a key rotation with the recovery key "
        "naming it, and sign every live post, decision, finding and event again with the new key. Peers "
        "check the rotation against the recovery key they pinned, move to the new key, and refuse the old "
        "one from then on; old links and manage links keep working. Start the node afterwards.",
    )
    data_dir_option(rotate, "the node's data directory (the node must be stopped)")
    rotate.add_argument(
        "--words-file", type=Path, metavar="FILE",
        help="read the 24 words from FILE ('-' for standard input; default: typed, not shown)",
    )  # fmt: skip
    rotate.add_argument(
        "--old-key", metavar="KEY",
        help=f"the node key to retire, when {IDENTITY_FILE} is lost (ma1... or hex; default: {IDENTITY_FILE}'s)",
    )  # fmt: skip
    rotate.add_argument(
        "--again", action="store_true",
        help="rotate a key that a rotation made (it leaked too); default: such a key is refused, so running "
        "the command twice never rotates twice",
    )  # fmt: skip
    rotate.add_argument("--json", action="store_true", help="print what was done as JSON, for scripts")
    rotate.set_defaults(handler=cmd_rotate)


def recovery_sheet(recovery: RecoveryKey) -> str:
    """What to copy onto paper: the words numbered, and a QR code of them."""
    from node.chapter.cards import qr_text  # noqa: PLC0415 - segno only when a sheet is printed

    words = recovery.words.split()
    rows = [
        "  ".join(f"{n + 1:2}. {words[n]:<9}" for n in range(start, start + 6)) for start in range(0, len(words), 6)
    ]
    return "\n".join(
        [
            "THE CHAPTER'S RECOVERY KEY: write these 24 words on paper now, in order, and keep the paper",
            "away from the node (with another organizer, in another place). They are shown this once.",
            "With them the chapter replaces a lost or stolen node key (mutualaid key rotate); anyone",
            "else holding them could too.",
            "",
            *rows,
            "",
            qr_text(recovery.words),
        ]
    )


def make_recovery(data_dir: Path) -> RecoveryKey:
    """A new recovery key for the node in ``data_dir``, its public half saved there."""
    recovery = RecoveryKey.generate()
    write_recovery_key(data_dir, recovery.public_key)
    return recovery


def cmd_show(args: argparse.Namespace) -> int:
    data_dir = chosen_data_dir(args.data_dir)
    from node.operate.rotate import RETIRED_PREFIX  # noqa: PLC0415

    retired = sorted(data_dir.glob(f"{RETIRED_PREFIX}*"), key=lambda path: path.stat().st_mtime)
    answer: dict[str, Any] = {
        "node_key": _key_text(data_dir / IDENTITY_FILE),
        "recovery_key": _text(read_recovery_key(data_dir)),
        "retired_keys": [_key_text(path) for path in retired],
    }
    lines = [f"node key      {answer['node_key'] or 'none (no identity.key here)'}"]
    lines.append(f"recovery key  {answer['recovery_key'] or 'none: make one with `mutualaid key recovery`'}")
    lines += [f"retired key   {key} (replaced by a key rotation)" for key in answer["retired_keys"]]
    print_answer(args, answer, "\n".join(lines))
    return ExitCode.DONE


def cmd_recovery(args: argparse.Namespace) -> int:
    data_dir = chosen_data_dir(args.data_dir)
    if not (data_dir / IDENTITY_FILE).is_file():
        raise CliError(f"{data_dir} holds no node (no {IDENTITY_FILE}): run `mutualaid init` first", ExitCode.REFUSED)
    existing = read_recovery_key(data_dir)
    if existing is not None:
        raise CliError(
            f"this node has a recovery key already ({public_key_to_text(existing)}); peers pinned it, so it "
            "cannot be replaced: keep the paper safe",
            ExitCode.REFUSED,
        )
    recovery = make_recovery(data_dir)
    answer = {"recovery_key": public_key_to_text(recovery.public_key), "words": recovery.words}
    note = "\nThe node names it in its profile from its next start (restart a running node)."
    print_answer(args, answer, recovery_sheet(recovery) + note)
    return ExitCode.DONE


def cmd_rotate(args: argparse.Namespace) -> int:
    from node.operate.rotate import RotateError, rotate  # noqa: PLC0415 - the store, for this command only

    data_dir = chosen_data_dir(args.data_dir)
    try:
        old = None if args.old_key is None else public_key_from_text(args.old_key)
    except InvalidKey as exc:
        raise CliError(f"--old-key: {exc}", ExitCode.USAGE) from None
    try:
        recovery = RecoveryKey.from_words(_read_words(args.words_file))
    except InvalidKey as exc:
        raise CliError(f"recovery key: {exc}", ExitCode.USAGE) from None
    lock = lock_data_dir(data_dir)
    try:
        done = rotate(data_dir, recovery, int(time.time()), old, again=args.again)
    except RotateError as exc:
        raise CliError(f"no rotation: {exc}", ExitCode.REFUSED) from None
    finally:
        lock.release()
    answer = {"old_key": public_key_to_text(done.old), "new_key": public_key_to_text(done.new),
              "carried": done.carried, "resumed": done.resumed}  # fmt: skip
    human = (
        f"node key {answer['old_key']} retired; the node now signs as {answer['new_key']}\n"
        f"{done.carried} live records signed again under the new key; start the node: its peers "
        "move to the new key at their next reconciliation and refuse the old one"
    )
    print_answer(args, answer, human)
    return ExitCode.DONE


def _read_words(source: Path | None) -> str:
    if source is None:
        if not sys.stdin.isatty():
            return sys.stdin.read(MAX_WORDS_BYTES + 1)[: MAX_WORDS_BYTES + 1]
        return getpass.getpass("the recovery key's 24 words (not shown): ")
    try:
        if str(source) == "-":
            text = sys.stdin.read(MAX_WORDS_BYTES + 1)
        else:
            with source.open(encoding="utf-8") as handle:
                text = handle.read(MAX_WORDS_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the words from {source}: {exc}", ExitCode.USAGE) from None
    if len(text) > MAX_WORDS_BYTES:
        raise CliError(f"{source} is longer than a recovery key ({MAX_WORDS_BYTES} bytes at most)", ExitCode.USAGE)
    return text


def _key_text(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        return public_key_to_text(NodeIdentity.load(path).public_key)
    except KeyFileError as exc:  # a damaged or foreign file: say so, do not crash
        return f"unreadable ({exc})"


def _text(key: bytes | None) -> str | None:
    return None if key is None else public_key_to_text(key)
