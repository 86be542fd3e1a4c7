"""Talking to a node from the command line: its URL, the HTTP calls, exit codes.

Every command ends with one of ``ExitCode``: the meaning of each is written
once here, and the ``--help`` epilog and docs/NODE.md say the same. A node's
refusal is its own message, passed on as it is (exit 1); a node that cannot
be reached, or that answers as no mutualaid node would, is exit 3, kept apart
from bad usage (2) so a script can tell "try again later" from "fix the
command". URLs, post ids and numbers are checked while the arguments are
parsed, so a typo is a usage error that names the option, never a traceback.

A chapter member acts with their card, read from ``$MUTUALAID_MEMBER_CARD``
or ``--card-file``: never an argument, which shell history would keep. A
command without one is a usage error saying how to give it; a card the node
does not know is its refusal, naming where the card came from (never the
card itself).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import enum
import http.client
import json
import os
import re
import stat
import string
import sys
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.chapter.cards import looks_like_card
from node.core.config import MANAGE_TOKEN_VARIABLE, MEMBER_CARD_VARIABLE, NODE_VARIABLE
from node.core.hosts import private_channel
from node.members.terms import MIN_ID_PREFIX

DEFAULT_NODE = "http://127.0.0.1:8440"
TIMEOUT_S = 30


class ExitCode(enum.IntEnum):
    DONE = 0
    REFUSED = 1
    USAGE = 2
    UNREACHABLE = 3


MEANINGS = {
    ExitCode.DONE: "done",
    ExitCode.REFUSED: "the node refused (its message is printed), or you declined a confirmation: nothing changed",
    ExitCode.USAGE: "bad usage: an unknown option or a bad value, a missing token, or a node that cannot start "
    "(a bad setting, its data directory in use, its port taken)",
    ExitCode.UNREACHABLE: "the node cannot be reached (not running, a wrong --node), or it answered as no "
    "mutualaid node does",
}
"""What each exit code means: the one text --help and docs/NODE.md give."""


def exit_codes_text() -> str:
    """The exit codes, one an entry, for an epilog."""
    entries = [textwrap.fill(text, 78, initial_indent=f"  {code}  ", subsequent_indent=" " * 5)
               for code, text in MEANINGS.items()]  # fmt: skip
    return "exit codes:\n" + "\n".join(entries)


class CliError(Exception):
    """A command cannot do what was asked; the message says why, ``code`` how it ends."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


# --- checking arguments ---------------------------------------------------------------------------------

_HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:[0-9]+|\[[0-9A-Fa-f:.]+\]:[0-9]+")


def node_url(value: str) -> str:
    """``--node``: http(s)://HOST[:PORT] and nothing more, as ``scheme://netloc``."""
    parts = urllib.parse.urlsplit(value.strip())
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number from 0 to 65535
        port_ok = False
    plain = not (parts.username or parts.password or parts.query or parts.fragment) and parts.path in ("", "/")
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or not plain:
        hint = f" (did you mean http://{value.strip()}?)" if _HOST_PORT.fullmatch(value.strip()) else ""
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a node's URL{hint}: give http(s)://HOST[:PORT], such as {DEFAULT_NODE}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def post_id(value: str) -> str:
    """A post's id, or its first ``MIN_ID_PREFIX`` hex characters or more (what ``search`` shows)."""
    text = value.strip().lower()
    if not MIN_ID_PREFIX <= len(text) <= 64 or text.strip(string.hexdigits.lower()):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a post's id: give its 64 hex characters, or its first {MIN_ID_PREFIX} or more "
            "(search shows 12)"
        )
    return text


def record_id(what: str, shown_by: str) -> Callable[[str], str]:
    """An argparse type: the id of a record (``what``: "a finding", "an event"), or its first
    ``MIN_ID_PREFIX`` hex characters or more (what the listing ``shown_by`` prints)."""

    def read(value: str) -> str:
        text = value.strip().lower()
        if not MIN_ID_PREFIX <= len(text) <= 64 or text.strip(string.hexdigits.lower()):
            raise argparse.ArgumentTypeError(
                f"{value!r} is not {what}'s id: give its 64 hex characters, or its first {MIN_ID_PREFIX} or more "
                f"({shown_by} shows 12)"
            )
        return text

    read.__name__ = "id"
    return read


def full_id(node: str, given: str) -> str:
    """The whole id of the record ``given`` names (an id, or its start), as the node resolves it."""
    if len(given) == 64:
        return given
    record = call(node, "GET", f"/api/v1/records/{quoted(given)}")
    return str(record["id"])


PROPOSAL_ID_CHARS = 32


def proposal_id(value: str) -> str:
    """A proposal's id (32 hex characters), or its first ``MIN_ID_PREFIX`` or more (``proposals`` shows 12)."""
    text = value.strip().lower()
    if not MIN_ID_PREFIX <= len(text) <= PROPOSAL_ID_CHARS or text.strip(string.hexdigits.lower()):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a proposal's id: give its {PROPOSAL_ID_CHARS} hex characters, or its first "
            f"{MIN_ID_PREFIX} or more (proposals shows 12)"
        )
    return text


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def read(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from {low} to {high}")
        return number

    read.__name__ = "number"  # what argparse calls the type in its own messages
    return read


def add_actions(parser: argparse.ArgumentParser, dest: str) -> Any:
    """A command's actions (``members invite``, ``events add``...): one is required."""
    return parser.add_subparsers(dest=dest, required=True, metavar="ACTION", title="actions",
                                 help="what to do; each action has its own --help")  # fmt: skip


def add_node_options(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    """``--node`` and (unless the command has its own output choice) ``--json``."""
    parser.add_argument(
        "--node",
        type=node_url,
        metavar="URL",
        help=f"the node's URL, http(s)://HOST[:PORT] (default: ${NODE_VARIABLE}, else {DEFAULT_NODE})",
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print the node's answer as JSON, for scripts")


def add_token_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        help="the post's manage token, printed when it was posted; write it as --token=TOKEN (a token may begin "
        f"with '-') (default: ${MANAGE_TOKEN_VARIABLE}, which also keeps it out of shell history)",
    )


def manage_token(args: argparse.Namespace, command: str) -> str:
    token = args.token or os.environ.get(MANAGE_TOKEN_VARIABLE, "")
    if not token.strip():
        raise CliError(f"{command} needs the post's manage token: --token=TOKEN or {MANAGE_TOKEN_VARIABLE}")
    return str(token).strip()


# --- the member card ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """A member card, and where it was read: a refusal names the source, never the card."""

    text: str
    source: str

    def explain(self) -> dict[str, str]:
        """A plainer word for a refused card: which one, from where."""
        return {
            "card_invalid": f"the node refused the member card from {self.source}: it is mistyped, was replaced "
            "or retired, its holder left, or it is no member card at all (card_invalid)",
        }


def add_card_option(parser: argparse.ArgumentParser) -> None:
    """``--card-file``: where a member command finds the member card (never an argument: shell history)."""
    parser.allow_abbrev = False  # so --card CARD is refused as unknown, not read as --card-file
    parser.add_argument(
        "--card-file",
        type=Path,
        metavar="FILE",
        help="a file holding your member card (card-XXXXX-...), readable only by you; '-' reads it from standard "
        f"input (default: ${MEMBER_CARD_VARIABLE}). The card itself is never an argument: it would stay in shell "
        "history",
    )


def has_card(args: argparse.Namespace) -> bool:
    """Whether a member card was given (the file, or the variable), without reading it."""
    return args.card_file is not None or bool(os.environ.get(MEMBER_CARD_VARIABLE, "").strip())


def member_card(args: argparse.Namespace) -> Card:
    """The member card a command acts with: ``--card-file``, else ``$MUTUALAID_MEMBER_CARD``; else a usage error."""
    if args.card_file is not None:
        source = "standard input" if str(args.card_file) == "-" else str(args.card_file)
        text = sys.stdin.read() if source == "standard input" else _read_card_file(args.card_file)
    else:
        source, text = f"${MEMBER_CARD_VARIABLE}", os.environ.get(MEMBER_CARD_VARIABLE, "")
    card = " ".join(text.split())
    if not card:
        where = "is empty" if args.card_file is not None else "is not set"
        command = " ".join(filter(None, [args.command, getattr(args, "members_command", None)]))
        raise CliError(
            f"{command} acts as a member and needs your member card, and {source} {where}: set "
            f"{MEMBER_CARD_VARIABLE}=card-... (export it once in your shell), or give --card-file FILE with the "
            "card in it. A card comes from joining with an invite code: mutualaid join CODE --name NAME"
        )
    if not card.isascii() or not card.isprintable():
        raise CliError(f"{source} does not hold a member card: a card reads card-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX")
    return Card(card, source)


def _read_card_file(path: Path) -> str:
    if not path.exists() and looks_like_card(str(path)):  # the card itself, given where its file goes
        raise CliError(
            f"--card-file takes a file holding your card, not the card: the card would stay in shell history. "
            f"Put it in a file only you can read, or set {MEMBER_CARD_VARIABLE}"
        )
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CliError(f"--card-file: cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISREG(mode) and mode & 0o077:
        print(f"mutualaid: warning: others can read {path}, which holds your member card: chmod 600 {path}",
              file=sys.stderr)  # fmt: skip
    return text


def node_of(args: argparse.Namespace) -> str:
    """The node a command talks to: --node, else $MUTUALAID_NODE (checked like --node), else the default."""
    if args.node:
        return str(args.node)
    from_env = os.environ.get(NODE_VARIABLE, "").strip()
    if not from_env:
        return DEFAULT_NODE
    try:
        return node_url(from_env)
    except argparse.ArgumentTypeError as exc:
        raise CliError(f"{NODE_VARIABLE}: {exc}") from None


def confirm(question: str) -> None:
    """Ask on the terminal (stderr, so stdout stays the answer); anything but yes changes nothing."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CliError("nothing changed (answer y, or give --yes)", ExitCode.REFUSED)


# --- one call ------------------------------------------------------------------------------------------


def call(
    node: str,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    *,
    token: str | None = None,
    raw: bool = False,
    explain: Mapping[str, str] | None = None,
) -> Any:
    """One request to the node's API: its JSON answer (or text, ``raw``).

    A refusal raises ``CliError`` (exit 1) with the node's message, or with
    ``explain[code]`` where a command has a plainer word for that code."""
    with opened(node, method, path, body, token=token, explain=explain) as response:
        payload = read_all(node, response)
    try:
        return payload.decode() if raw else json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise CliError(f"{node} answered, but not as a mutualaid node does: is it one?", ExitCode.UNREACHABLE) from None


class AdminToken(str):
    """The operator's admin token: it opens the roll's names (a backup) and the
    peers, so it is sent only over https or to the node's own machine."""

    __slots__ = ()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A node never redirects its API: a redirect (which urllib would follow
    with the Authorization header, even to plain http) is refused as it is."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


BULK_TIMEOUT_S = 900
"""Seconds a bundle or a backup may keep the node silent (a Raspberry Pi taking in
100,000 records, or copying a large store), where ``TIMEOUT_S`` suits every other call."""


@contextlib.contextmanager
def opened(
    node: str,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    *,
    data: bytes | None = None,
    content_type: str = "application/json",
    token: str | None = None,
    explain: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT_S,
) -> Iterator[http.client.HTTPResponse]:
    """The node's answer to one request, open for reading (``read_all``, ``read_chunks``):
    a JSON ``body`` or bytes ``data`` of ``content_type``. Refusals and an unreachable
    node raise ``CliError`` as ``call`` says."""
    if isinstance(token, AdminToken) and not private_channel(node):
        raise CliError(
            f"the admin token opens the node's backups and peers: send it over https or from the node's own "
            f"machine (http://127.0.0.1:PORT), not in the clear to {node}",
            ExitCode.USAGE,
        )
    if body is not None:
        data = json.dumps(body).encode()
    request = urllib.request.Request(node + path, data=data, method=method)  # noqa: S310 - http(s), checked
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        response = _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise _refusal(exc, explain or {}) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _unreachable(node, exc) from None
    with response:
        yield response


def read_all(node: str, response: http.client.HTTPResponse) -> bytes:
    try:
        return response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise _unreachable(node, exc) from None


def read_chunks(node: str, response: http.client.HTTPResponse, size: int = 1 << 20) -> Iterator[bytes]:
    """The answer's body a piece at a time (a connection cut short is exit 3, as for ``call``)."""
    while True:
        try:
            chunk = response.read(size)
        except (OSError, http.client.HTTPException) as exc:
            raise _unreachable(node, exc) from None
        if not chunk:
            return
        yield chunk


def _unreachable(node: str, exc: BaseException) -> CliError:
    reason = getattr(exc, "reason", None) or exc.__class__.__name__
    return CliError(f"cannot reach the node at {node}: {reason}. Is it running? (mutualaid run)", ExitCode.UNREACHABLE)


def _refusal(exc: urllib.error.HTTPError, explain: Mapping[str, str]) -> CliError:
    try:
        error = json.loads(exc.read())["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError, OSError):
        return CliError(f"the node answered HTTP {exc.code} {exc.reason}", ExitCode.REFUSED)
    if code in explain:
        return CliError(explain[code], ExitCode.REFUSED)
    return CliError(f"the node refused: {message} ({code})", ExitCode.REFUSED)


def quoted(record_id: str) -> str:
    return urllib.parse.quote(record_id, safe="")


def query_string(params: Mapping[str, object]) -> str:
    """``?a=1&b=2`` of the parameters that are not None (lists repeat the name)."""
    pairs = [(k, str(v)) for k, value in params.items() if value is not None for v in _each(value)]
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


def _each(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else [value]


def moment(text: str) -> datetime.datetime:
    """A time as the node writes it (ISO 8601 UTC, ``...Z``)."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def when(text: str | None) -> str:
    """A node's time as people read it: ``2026-12-20 03:30 UTC``."""
    return "never" if not text else moment(text).strftime("%Y-%m-%d %H:%M UTC")


def span(seconds: float) -> str:
    """A stretch of time in days, hours and minutes, the two largest: ``6d 23h``, ``45m``."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    parts = [(minutes // 1440, "d"), (minutes % 1440 // 60, "h"), (minutes % 60, "m")]
    shown = [f"{n}{unit}" for n, unit in parts if n]
    return " ".join(shown[:2])


def time_left(text: str) -> str:
    """How long until a node's time: ``in 6d 23h``, or ``due now``."""
    seconds = (moment(text) - datetime.datetime.now(datetime.UTC)).total_seconds()
    return f"in {span(seconds)}" if seconds > 0 else "due now"


def stdin_text(what: str, flag: str) -> str:
    """Text given as ``FLAG -``, read from standard input (a usage error when empty)."""
    text = sys.stdin.read().strip("\n")
    if not text.strip():
        raise CliError(f"the {what} read from standard input ({flag} -) is empty")
    return text


def print_answer(args: argparse.Namespace, value: Any, human: str) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False) if getattr(args, "json", False) else human)
