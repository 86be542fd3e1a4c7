"""The ``mutualaid`` command: run a node, and talk to one.

Human output by default, ``--json`` for scripts. Exit codes: 0 done, 1 the
node refused (its error message is printed), 2 bad usage or the node cannot be
reached or started. Member commands talk to the node's JSON API over HTTP
(``--node URL`` or ``MUTUALAID_NODE``), so they work against any node.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from node import __version__
from node.core.config import ConfigError, load_config
from node.core.datadir import DataDirError, ensure_data_dir, read_admin_token

DEFAULT_NODE = "http://127.0.0.1:8440"
TIMEOUT_S = 30


class CliError(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8440 or 0.0.0.0:0)")
    return host.strip("[]"), int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mutualaid", description="A mutual aid node and its command line.")
    parser.add_argument("--version", action="version", version=f"mutualaid {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = sub.add_parser("init", help="create a node's data directory (identity, admin token, config)")
    init.add_argument("--data-dir", type=Path, help="where the node keeps its files")
    init.add_argument("--name", help="the node's name, shown to members and peers")
    init.add_argument("--area", action="append", dest="areas", metavar="GEOHASH", help="an area served (repeat)")
    init.add_argument("--json", action="store_true", help="print JSON")

    run = sub.add_parser("run", help="run a node (creates its data directory on first start)")
    run.add_argument("--data-dir", type=Path, help="where the node keeps its files")
    run.add_argument("--listen", type=_listen, metavar="HOST:PORT", help="address to serve on (port 0: any free)")
    run.add_argument("--peer", action="append", dest="peers", metavar="URL", help="a peer node's URL (repeat)")
    run.add_argument("--no-mdns", action="store_true", help="do not look for peers on the LAN")
    run.add_argument(
        "--mdns-interface", action="append", dest="mdns_interfaces", metavar="IPV4",
        help="an interface address for mDNS (repeat; default: every interface)",
    )  # fmt: skip
    run.add_argument(
        "--no-peer-exchange",
        action="store_true",
        help="connect only to configured and LAN peers",
    )
    run.add_argument("--max-peers", type=int, help="outbound links to found peers (default 8)")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])

    post = sub.add_parser("post", help="post a need or an offer; prints its id and manage token")
    post.add_argument("kind", choices=["need", "offer"])
    post.add_argument("--title", required=True)
    post.add_argument("--category", required=True, help="a slug such as food or child-care")
    post.add_argument("--area", required=True, help="a geohash of at most 5 characters (~5 km)")
    post.add_argument("--details")
    post.add_argument("--tag", action="append", dest="tags", help="a tag (repeat)")
    post.add_argument("--urgency", choices=["low", "normal", "high", "urgent"])
    post.add_argument("--give-back", help="(needs) something you can offer in return")
    post.add_argument("--expires-in-days", type=int)
    _node_options(post)

    search = sub.add_parser("search", help="search the records a node holds")
    search.add_argument("--kind", choices=["need", "offer"])
    search.add_argument("--category")
    search.add_argument("--area", help="a geohash prefix")
    search.add_argument("--text", help="words to look for")
    search.add_argument("--status", choices=["open", "claimed", "fulfilled", "withdrawn"])
    search.add_argument("--urgency", action="append", choices=["low", "normal", "high", "urgent"], help="(repeat)")
    search.add_argument("--language", help="a language tag such as es or pt-br")
    search.add_argument("--limit", type=int, default=20)
    _node_options(search)
    _community_commands(sub)

    status = sub.add_parser("status", help="show a node's identity and counts")
    _node_options(status)

    peers = sub.add_parser("peers", help="list, add or remove the node's peers (needs its admin token)")
    peers.add_argument("action", choices=["list", "add", "remove"])
    peers.add_argument("url", nargs="?", help="the peer's URL (for add and remove)")
    peers.add_argument("--data-dir", type=Path, help="the node's data directory, where admin.token is")
    _node_options(peers)
    return parser


def _community_commands(sub: Any) -> None:
    """Replies and the community report: what the member page does, from a terminal."""
    reply = sub.add_parser("reply", help="reply privately to a need or an offer (sealed to its poster's node)")
    reply.add_argument("id", help="the post's id")
    reply.add_argument(
        "--message",
        help="the message; '-' reads it from standard input; left out, it is asked for "
        "(so it need not be on the command line or in shell history)",
    )
    reply.add_argument(
        "--contact",
        help="how the poster can reach you (only they will see it); '-' reads it from standard input; "
        "left out, it is asked for when the message is",
    )
    _node_options(reply)

    replies = sub.add_parser("replies", help="read the replies to your post (needs its manage token)")
    replies.add_argument("id", help="the post's id")
    replies.add_argument(
        "--token",
        default=os.environ.get("MUTUALAID_MANAGE_TOKEN"),
        help="the post's manage token, as --token=TOKEN (a token may begin with '-'); "
        "default: $MUTUALAID_MANAGE_TOKEN, which also stays out of shell history",
    )
    _node_options(replies)

    report = sub.add_parser("report", help="the community needs report (counts rounded to 5, under 5 shown as <5)")
    report.add_argument("--weeks", type=int, default=12, help="how many weeks back (1-13)")
    report.add_argument("--csv", action="store_true", help="print CSV")
    _node_options(report)


def _node_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--node", default=os.environ.get("MUTUALAID_NODE", DEFAULT_NODE), help="the node's URL")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _request(
    node: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    raw: bool = False,
) -> Any:
    url = node.rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the user names the URL
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            payload = response.read()
            return payload.decode() if raw else json.loads(payload)
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())["error"]
            raise CliError(f"the node refused: {error['message']} ({error['code']})", 1) from None
        except (ValueError, KeyError, TypeError):
            raise CliError(f"the node answered HTTP {exc.code} {exc.reason}", 1) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(f"cannot reach the node at {node}: {reason}. Is it running? (mutualaid run)") from None


def _print(args: argparse.Namespace, value: Any, human: str) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False) if args.json else human)


def cmd_init(args: argparse.Namespace) -> int:
    flags = {"data_dir": args.data_dir, "name": args.name, "areas": args.areas}
    config = load_config(flags=flags)
    files = ensure_data_dir(config)
    key = files.identity.public_key.hex()
    state = "created" if files.created else "already existed"
    _print(args, {"data_dir": str(config.data_dir), "public_key": key, "created": files.created},
           f"data directory {config.data_dir} {state}\nnode public key {key}")  # fmt: skip
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from node.app import configure_logging, serve  # noqa: PLC0415 - keeps member commands light

    flags: dict[str, Any] = {"data_dir": args.data_dir, "peers": args.peers, "log_level": args.log_level}
    if args.listen:
        flags["listen_host"], flags["listen_port"] = args.listen
    if args.no_mdns:
        flags["mdns"] = False
    if args.no_peer_exchange:
        flags["peer_exchange"] = False
    flags["mdns_interfaces"] = args.mdns_interfaces
    flags["max_peers"] = args.max_peers
    config = load_config(flags=flags)
    configure_logging(config.log_level)
    files = ensure_data_dir(config)

    def ready(url: str) -> None:
        print(f"mutualaid node listening on {url}", flush=True)

    try:
        asyncio.run(serve(config, files.identity, str(files.database), ready=ready, progress=ProgressBar()))
    except OSError as exc:
        raise CliError(f"cannot listen on {config.listen_host}:{config.listen_port}: {exc.strerror or exc}") from None
    return 0


class ProgressBar:
    """A one-line bar on a terminal for a long sync; silent when not a terminal
    (the log already says what each sync did) or for small syncs."""

    MIN_TOTAL = 2000

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()

    def __call__(self, peer: str, done: int, total: int) -> None:
        if not self._tty or total < self.MIN_TOTAL:
            return
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if done >= total else ""
        bar = "#" * filled + "-" * (width - filled)
        print(f"\rsyncing from {peer} [{bar}] {done:,}/{total:,}", end=end, file=sys.stderr, flush=True)


def cmd_post(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"kind": args.kind, "title": args.title, "category": args.category, "area": args.area}
    optional = {"details": args.details, "tags": args.tags, "urgency": args.urgency, "give_back": args.give_back,
                "expires_in_days": args.expires_in_days}  # fmt: skip
    body |= {k: v for k, v in optional.items() if v is not None}
    result = _request(args.node, "POST", "/api/v1/records", body)
    record = result["record"]
    _print(args, result, f"posted {record['kind']} {record['id']}\nmanage token (keep it private, shown once): "
                         f"{result['manage_token']}")  # fmt: skip
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    params = {"kind": args.kind, "category": args.category, "area": args.area, "q": args.text,
              "status": args.status, "limit": args.limit, "language": args.language,
              "urgency": ",".join(args.urgency) if args.urgency else None}  # fmt: skip
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    result = _request(args.node, "GET", f"/api/v1/records?{query}")
    lines = [
        f"{r['kind']:5} {r['status']:9} {r.get('area', ''):5} {r.get('category', ''):14} {r.get('title', '')}"
        f"  [{r['id'][:12]}]"
        for r in result["records"]
    ]
    _print(args, result, "\n".join(lines) if lines else "no records found")
    return 0


def _ask(prompt: str) -> str:
    """One line from standard input, the prompt on stderr (stdout stays the answer)."""
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _reply_text(args: argparse.Namespace) -> tuple[str, str]:
    if args.message == "-" and args.contact == "-":
        raise CliError("only one of --message and --contact can be read from standard input")
    if args.message == "-":
        message = sys.stdin.read().rstrip("\n")
    elif args.message is None:
        message = _ask("Message: ")
    else:
        message = args.message
    if args.contact == "-":
        contact = sys.stdin.read().rstrip("\n")
    elif args.contact is None:
        contact = _ask("How they can reach you (optional, only they will see it): ") if args.message is None else ""
    else:
        contact = args.contact
    return message, contact


def cmd_reply(args: argparse.Namespace) -> int:
    message, contact = _reply_text(args)
    body = {"message": message, "contact": contact}
    result = _request(args.node, "POST", f"/api/v1/records/{urllib.parse.quote(args.id)}/replies", body)
    how = "delivered to the poster's node" if result["reply"]["delivered"] == "direct" else "sent through the network"
    _print(args, result, f"reply {result['reply']['id']} sealed and {how}")
    return 0


def cmd_replies(args: argparse.Namespace) -> int:
    if not args.token:
        raise CliError("replies needs the post's manage token: --token or MUTUALAID_MANAGE_TOKEN")
    path = f"/api/v1/records/{urllib.parse.quote(args.id)}/replies"
    result = _request(args.node, "GET", path, token=args.token)
    blocks = [
        f"{r['sent_at']}\n{r['message']}" + (f"\ncontact: {r['contact']}" if r["contact"] else "")
        for r in result["replies"]
    ]
    _print(args, result, "\n\n".join(blocks) if blocks else "no replies yet")
    return 0


def _count(value: int | None) -> str:
    return "<5" if value is None else str(value)


def cmd_report(args: argparse.Namespace) -> int:
    if args.csv:
        print(_request(args.node, "GET", f"/api/v1/report.csv?weeks={args.weeks}", raw=True), end="")
        return 0
    report = _request(args.node, "GET", f"/api/v1/report?weeks={args.weeks}")
    totals = report["totals"]
    lines = [
        f"community needs report, last {report['weeks']} weeks "
        f"(counts rounded to {report.get('rounded_to', 5)}; counts under 5 shown as <5)",
        f"needs {_count(totals['needs'])}, offers {_count(totals['offers'])}, "
        f"fulfilled {_count(totals['fulfilled_needs'])}, still open {_count(totals['open_needs'])}",
        "",
        f"{'category':20} {'needs':>6} {'offers':>6} {'fulfilled':>9}",
        *(
            f"{r['category']:20} {_count(r['needs']):>6} {_count(r['offers']):>6} {_count(r['fulfilled']):>9}"
            for r in report["by_category"]
        ),
    ]
    if report["outrun"]:
        lines += ["", "needs outrun offers: " + ", ".join(r["category"] for r in report["outrun"])]
    _print(args, report, "\n".join(lines))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    info = _request(args.node, "GET", "/api/v1/node")
    _print(args, info, f"{info['name']} (mutualaid {info['version']})\npublic key {info['public_key']}\n"
                       f"records {info['records']}, peers {info['peers']}")  # fmt: skip
    return 0


def cmd_peers(args: argparse.Namespace) -> int:
    config = load_config(flags={"data_dir": args.data_dir})
    token = read_admin_token(config.data_dir)
    if args.action == "list":
        result = _request(args.node, "GET", "/api/v1/peers", token=token)
        lines = [
            f"{p['state']:10} {p['url']}  key {(p['public_key'] or '?')[:16]}  failures {p['failures']}"
            + (f"  last error: {p['last_error']}" if p["last_error"] else "")
            for p in result["peers"]
        ]
        _print(args, result, "\n".join(lines) if lines else "no peers")
        return 0
    if not args.url:
        raise CliError(f"peers {args.action} needs the peer's URL")
    if args.action == "add":
        result = _request(args.node, "POST", "/api/v1/peers", {"url": args.url}, token=token)
    else:
        query = urllib.parse.urlencode({"url": args.url})
        result = _request(args.node, "DELETE", f"/api/v1/peers?{query}", token=token)
    _print(args, result, f"{'added' if args.action == 'add' else 'removed'} {result['url']}")
    return 0


COMMANDS = {
    "init": cmd_init,
    "run": cmd_run,
    "post": cmd_post,
    "search": cmd_search,
    "reply": cmd_reply,
    "replies": cmd_replies,
    "report": cmd_report,
    "status": cmd_status,
    "peers": cmd_peers,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CliError, ConfigError, DataDirError) as exc:
        print(f"mutualaid: {exc}", file=sys.stderr)
        return exc.code if isinstance(exc, CliError) else 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
