"""``mutualaid bundle export|import``: a node's records carried on a USB stick, and taken in.

The format is ``protocol/bundle.py``'s, what goes in and how it is taken
``node/operate/bundle.py``'s. Both actions work two ways: on a stopped
node's ``--data-dir`` (its lock taken, as ``run`` takes it, so no node
starts meanwhile), or through the running node at ``--node URL`` with the
admin token read from ``--data-dir`` (as ``peers`` does). A bundle is read
whole and verified here before anything is sent or stored, so a damaged
file is refused with what is wrong and where, whichever way.

Module imports stay light (every command loads this file): the store, the
ingest and the bundle code are loaded by the handlers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from crypto import public_key_to_text
from node.cli.admin import admin_token, data_dir_option
from node.cli.client import (
    BULK_TIMEOUT_S,
    CliError,
    ExitCode,
    add_actions,
    node_url,
    opened,
    query_string,
    read_all,
    when,
)
from node.cli.propose import duration
from node.core.clock import iso
from node.core.config import NODE_VARIABLE, chosen_data_dir
from node.core.datadir import IDENTITY_FILE, DataDirError, lock_data_dir
from protocol.bundle import BLOCKED_EXPORTER, MEDIA_TYPE
from protocol.fields import DATE_PATTERN, GEOHASH_PATTERN
from protocol.records import DAY, MAX_DECISION_TTL

if TYPE_CHECKING:
    from protocol.bundle import Bundle

MAX_SINCE_DAYS = MAX_DECISION_TTL // DAY
"""The oldest --since: nothing a node holds is older than a decision's ten years."""
"""How far back ``--since`` reaches: a decision, the longest-lived record, lives ten years."""
_AGO = duration(1, MAX_SINCE_DAYS * 1440)
_DATE = re.compile(DATE_PATTERN)
_AREA = re.compile(GEOHASH_PATTERN)


def since_time(value: str) -> int:
    """``--since``: a date, an RFC 3339 date and time, or how long ago (a DURATION), as Unix time."""
    text = value.strip()
    if _DATE.match(text):
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
    try:
        return int(time.time()) - _AGO(text) * 60
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time: give a date (2026-12-01), a date and time (2026-12-01T18:00:00Z), or how "
            f"long ago, in days, hours and minutes (7d, 12h, 1d12h; at most {MAX_SINCE_DAYS}d)"
        ) from None


def area(value: str) -> str:
    text = value.strip().lower()
    if not _AREA.match(text):
        raise argparse.ArgumentTypeError(f"{value!r} is not an area: give a geohash of 1 to 5 characters, like u4pr")
    return text


def node_option(parser: argparse.ArgumentParser, what: str, otherwise: str) -> None:
    """``--node`` for an operator's command that otherwise reads the data directory itself."""
    parser.add_argument(
        "--node", type=node_url, metavar="URL",
        help=f"{what} through the running node at this URL, http(s)://HOST[:PORT], with the admin token read "
        f"from --data-dir (${NODE_VARIABLE} is not read here; default: none, {otherwise})",
    )  # fmt: skip


def register(sub: Any) -> None:
    bundles = sub.add_parser(
        "bundle",
        help="carry records to a node without a network: export them to a file, import one",
        description="Carry records between nodes with no network between them (a USB stick, a street without "
        "internet). export writes the records a node holds, exactly as received, into one file signed by the "
        "node's key; import checks that file whole (one changed bit anywhere is refused) and takes each record "
        "through the node's own checks, as if a peer had sent it, reporting how many were accepted, already "
        "held, or refused and why. Either acts on a stopped node's --data-dir, or through a running node with "
        "--node.",
    )
    actions = add_actions(bundles, "bundle_action")
    exporting = actions.add_parser(
        "export",
        help="write a node's records to a bundle file, signed by its key",
        description="Write the live records a node holds into FILE, each exactly as received, with the node's "
        "signature over the whole file. Every node profile and chapter decision held goes in too, whatever "
        "--since and --area say: replies are sealed to a profile, and decisions stand in a chain.",
    )
    exporting.add_argument("file", type=Path, metavar="FILE", help="the bundle file to write (replaced if it exists)")
    exporting.add_argument(
        "--since", type=since_time, metavar="TIME",
        help="only records made since TIME: a date (2026-12-01, midnight UTC), a date and time "
        "(2026-12-01T18:00:00Z), or how long ago (7d, 12h, 1d12h) (default: every live record)",
    )  # fmt: skip
    exporting.add_argument(
        "--area", type=area, metavar="GEOHASH",
        help="only records in this area (a geohash prefix: u4 takes u4pru), and those in none (default: every area)",
    )  # fmt: skip
    _common(exporting, "export", "export from")
    exporting.set_defaults(handler=cmd_export)
    importing = actions.add_parser(
        "import",
        help="take a bundle file's records into a node, each checked as a peer's would be",
        description="Check FILE whole (its exporter's signature over every byte), then take each record through "
        "the node's own checks, as if a peer had sent it: its author's signature, the clock, blocked authors, "
        "removals, the areas the node serves, a decision's chain. Prints how many were accepted, already held "
        "(duplicate), older than what the node holds (superseded), and refused, by reason. Importing the same "
        "file again changes nothing. A bundle from a node this one has blocked as a peer is refused whole.",
    )
    importing.add_argument("file", type=Path, metavar="FILE", help="the bundle file to read")
    _common(importing, "import", "import into")
    importing.set_defaults(handler=cmd_import)


def _common(parser: argparse.ArgumentParser, what: str, where: str) -> None:
    data_dir_option(parser, f"the node's data directory: with --node, where its admin token is; else the stopped "
                            f"node's to {where}")  # fmt: skip
    node_option(parser, what, "the stopped node's --data-dir is opened directly")
    parser.add_argument("--json", action="store_true", help="print what was done as JSON, for scripts")


# --- export --------------------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    from protocol.bundle import decode_bundle  # noqa: PLC0415 - loaded by the handler, not at start
    from protocol.errors import BundleInvalid  # noqa: PLC0415

    data_dir = chosen_data_dir(args.data_dir)
    if args.node:
        token = admin_token(data_dir, "bundle export")
        path = "/api/v1/bundle" + query_string({"since": args.since, "area": args.area})
        with opened(args.node, "GET", path, token=token, timeout=BULK_TIMEOUT_S) as response:
            data = read_all(args.node, response)
        try:
            bundle = decode_bundle(data)  # the node's answer, checked before it is kept
        except BundleInvalid as exc:
            raise CliError(f"the node at {args.node} sent a damaged bundle ({exc}); nothing written",
                           ExitCode.UNREACHABLE) from None  # fmt: skip
    else:
        data, bundle = _export_here(data_dir, args.since, args.area)
    from node.operate.backup import write_whole  # noqa: PLC0415

    def write(out: BinaryIO) -> None:
        out.write(data)

    try:
        write_whole(args.file.absolute(), write)
    except OSError as exc:
        raise CliError(f"cannot write {args.file}: {exc.strerror or exc}", ExitCode.REFUSED) from None
    answer = {"file": str(args.file), "records": len(bundle.records), "bytes": len(data), **_about(bundle)}
    if args.json:
        print(json.dumps(answer))
        return ExitCode.DONE
    print(f"exported {len(bundle.records):,} records ({len(data):,} bytes) to {args.file}")
    print(f"signed by node {answer['exporter_key']}; {_filter_text(bundle)}")
    return ExitCode.DONE


def _export_here(data_dir: Path, since: int | None, area: str | None) -> tuple[bytes, Bundle]:
    from node.operate.bundle import BundleRefused, export_from  # noqa: PLC0415
    from protocol.bundle import BundleTooLarge, decode_bundle  # noqa: PLC0415

    with _locked(data_dir):
        try:
            data = export_from(data_dir, since, area)
        except BundleRefused as exc:
            raise CliError(str(exc), ExitCode.REFUSED) from None
        except BundleTooLarge as exc:
            raise CliError(f"too much for one bundle ({exc}): narrow it with --since or --area",
                           ExitCode.REFUSED) from None  # fmt: skip
    return data, decode_bundle(data)


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """The data directory's lock while a stopped node's files are used (no node may start meanwhile)."""
    if not (data_dir / IDENTITY_FILE).is_file():
        raise CliError(f"{data_dir} holds no node (no {IDENTITY_FILE}): give the node's --data-dir", ExitCode.REFUSED)
    try:
        lock = lock_data_dir(data_dir)
    except DataDirError as exc:
        raise CliError(f"{exc}. To use a running node, give its --node URL") from None
    try:
        yield
    finally:
        lock.release()


def _about(bundle: Bundle) -> dict[str, Any]:
    return {"exporter": bundle.exporter.hex(), "exporter_key": public_key_to_text(bundle.exporter),
            "created_at": bundle.created_at, "since": bundle.since, "area": bundle.area}  # fmt: skip


def _filter_text(bundle: Bundle) -> str:
    return chosen(bundle.since, bundle.area)


def chosen(since: int | None, area: str | None) -> str:
    """Which records a bundle holds, in words: its filter."""
    made = f"made since {when(iso(since))}" if since is not None else "of any time"
    return f"records {made}, {'area ' + area if area else 'every area'}"


# --- import --------------------------------------------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> int:
    from protocol.bundle import MAX_BUNDLE_BYTES, decode_bundle  # noqa: PLC0415
    from protocol.errors import BundleInvalid  # noqa: PLC0415

    data_dir = chosen_data_dir(args.data_dir)
    try:
        size = args.file.stat().st_size
        if size > MAX_BUNDLE_BYTES:
            raise CliError(f"{args.file} is {size:,} bytes: a bundle is at most {MAX_BUNDLE_BYTES:,}; nothing "
                           "imported", ExitCode.REFUSED)  # fmt: skip
        data = args.file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror or exc}", ExitCode.REFUSED) from None
    try:
        bundle = decode_bundle(data)
    except BundleInvalid as exc:
        raise CliError(f"{args.file} is not a whole bundle: {exc} ({exc.reason}); nothing imported",
                       ExitCode.REFUSED) from None  # fmt: skip
    if args.node:
        token = admin_token(data_dir, "bundle import")
        with opened(args.node, "POST", "/api/v1/bundle", data=data, content_type=MEDIA_TYPE,
                    token=token, timeout=BULK_TIMEOUT_S) as response:  # fmt: skip
            payload = read_all(args.node, response)
        try:
            done: dict[str, Any] = json.loads(payload)
        except ValueError:
            raise CliError(f"{args.node} answered, but not as a mutualaid node does", ExitCode.UNREACHABLE) from None
    else:
        done = _import_here(data_dir, bundle)
    if args.json:
        print(json.dumps({"file": str(args.file), **done}))
        return ExitCode.DONE
    for line in _import_lines(args.file, done):
        print(line)
    return ExitCode.DONE


def _import_here(data_dir: Path, bundle: Bundle) -> dict[str, Any]:
    from node.operate.bundle import BundleRefused, import_into  # noqa: PLC0415

    with _locked(data_dir):
        try:
            return import_into(data_dir, bundle).as_json()
        except BundleRefused as exc:
            raise CliError(str(exc), ExitCode.REFUSED) from None


def _import_lines(file: Path, done: dict[str, Any]) -> list[str]:
    lines = [
        f"bundle {file} from node {done['exporter_key']}, made {when(iso(done['created_at']))} "
        f"({chosen(done['since'], done['area'])})",
        f"{done['records']:,} records: accepted {done['accepted']:,}, duplicate {done['duplicate']:,}, "
        f"superseded {done['superseded']:,}, rejected {sum(done['rejected'].values()):,}",
    ]
    if done["rejected"]:
        lines.append("rejected: " + ", ".join(f"{reason} {n:,}" for reason, n in done["rejected"].items()))
    if BLOCKED_EXPORTER in done["rejected"]:
        lines.append("this node has blocked the exporter's key as a peer: nothing was taken from its bundle")
    return lines
