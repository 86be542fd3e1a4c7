"""The operator's commands: init, run, peers.

``run`` locks the data directory before it writes or opens anything there
(node/core/datadir.py), so a second node on the same directory stops with a
message and changes nothing. Its flags are settings (node/core/config.py):
their help names the setting, its ``MUTUALAID_<SETTING>`` variable and its
default, all read from ``NodeConfig``. ``peers`` talks to the operator API
with the admin token it reads from the node's data directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from crypto import InvalidKey, public_key_to_text
from node.cli.client import (
    AdminToken,
    CliError,
    ExitCode,
    add_node_options,
    call,
    node_of,
    print_answer,
    query_string,
    whole_number,
)
from node.core.config import ENV_PREFIX, NodeConfig, chosen_data_dir, load_config
from node.core.datadir import (
    ADMIN_TOKEN_FILE,
    DataDirError,
    ensure_data_dir,
    lock_data_dir,
    read_admin_token,
    read_recovery_key,
)

_FIELDS = {f.name: f for f in dataclasses.fields(NodeConfig)}
DATA_DIR_DEFAULT = "$XDG_DATA_HOME/mutualaid, else ~/.local/share/mutualaid"


def _variable(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


def _setting(setting: str, default: str | None = None) -> str:
    """The tail of a flag's help: its setting's variable and default."""
    if default is None:
        value = _FIELDS[setting].default
        if isinstance(value, tuple):
            default = ", ".join(value) or "none"
        else:
            default = str(value).lower() if isinstance(value, bool) else str(value)
    return f"(${_variable(setting)}; default: {default})"


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT (such as 127.0.0.1:8440 or 0.0.0.0:0)")
    return host.strip("[]"), int(port)


def data_dir_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help=f"{what} {_setting('data_dir', DATA_DIR_DEFAULT)}")


def register(sub: Any) -> None:
    init = sub.add_parser(
        "init",
        help="create a node's data directory (identity, admin token, config.toml)",
        description="Create a node's data directory without starting it: its identity key, its admin token and "
        "config.toml, which keeps the name and areas given here. Run it again and it changes nothing.",
    )
    data_dir_option(init, "where the node keeps its files")
    init.add_argument("--name", help=f"the node's name, shown to members and peers {_setting('name')}")
    init.add_argument(
        "--area", action="append", dest="areas", metavar="GEOHASH",
        help=f"a geohash prefix the node serves; repeat for several {_setting('areas', 'every area')}",
    )  # fmt: skip
    init.add_argument("--json", action="store_true", help="print what was done as JSON, for scripts")
    init.set_defaults(handler=cmd_init)
    _register_run(sub)


def _register_run(sub: Any) -> None:
    settings = ", ".join(name for name in _FIELDS if name != "data_dir")
    run = sub.add_parser(
        "run",
        help="run a node (creates its data directory on first start)",
        description="Run a node until SIGTERM or Ctrl-C. It creates its data directory on first start, and "
        "refuses to start on a directory another running node uses. It prints one line once it listens: "
        "mutualaid node listening on URL.",
        epilog=f"Every setting can also be given in DIR/config.toml or as {ENV_PREFIX}<SETTING> (such as "
        f"{ENV_PREFIX}NAME, or {ENV_PREFIX}PEERS=URL,URL); flags win over variables, variables over "
        f"config.toml. Settings (docs/NODE.md says what each does): {settings}.",
    )
    data_dir_option(run, "where the node keeps its files")
    listen = f"{_FIELDS['listen_host'].default}:{_FIELDS['listen_port'].default}"
    run.add_argument(
        "--listen", type=_listen, metavar="HOST:PORT",
        help=f"the address to serve on; 0.0.0.0 serves the LAN, port 0 picks a free one "
        f"(${_variable('listen_host')}, ${_variable('listen_port')}; default: {listen})",
    )  # fmt: skip
    run.add_argument(
        "--peer", action="append", dest="peers", metavar="URL",
        help=f"a peer node's URL; repeat for several ({_variable('peers')} takes them comma-separated; "
        "default: none, besides the LAN's and those learnt from peers)",
    )  # fmt: skip
    run.add_argument(
        "--no-mdns", action="store_true",
        help=f"neither advertise the node nor look for peers on the LAN (or ${_variable('mdns')}=false; "
        "default: both on)",
    )  # fmt: skip
    run.add_argument(
        "--mdns-interface", action="append", dest="mdns_interfaces", metavar="IPV4",
        help=f"an interface address mDNS uses; repeat for several {_setting('mdns_interfaces', 'every interface')}",
    )  # fmt: skip
    run.add_argument(
        "--no-peer-exchange", action="store_true",
        help=f"link only to configured and LAN peers, learning none from peers (or "
        f"${_variable('peer_exchange')}=false; default: peers are learnt)",
    )  # fmt: skip
    run.add_argument(
        "--max-peers", type=whole_number(0, 64), metavar="N",
        help=f"links to found peers, 0 to 64, besides the configured ones {_setting('max_peers')}",
    )  # fmt: skip
    run.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help=f"how much to log {_setting('log_level')}"
    )
    run.set_defaults(handler=cmd_run)


def register_peers(sub: Any) -> None:
    peers = sub.add_parser(
        "peers",
        help="list, add or remove the node's peers (needs its admin token)",
        description=f"List, add or remove a node's peers, with its admin token, read from {ADMIN_TOKEN_FILE} in "
        "the node's data directory: run it on the node's machine and give the directory the node runs on "
        "(make run uses ./data: --data-dir data).",
    )
    peers.add_argument("action", choices=["list", "add", "remove"], help="what to do")
    peers.add_argument("url", nargs="?", help="the peer's URL (for add and remove)")
    data_dir_option(peers, f"the node's data directory, where {ADMIN_TOKEN_FILE} is")
    add_node_options(peers)
    peers.set_defaults(handler=cmd_peers)


def _key_text(hex_key: str | None) -> str:
    """A key as people see it everywhere: the ma1... form."""
    if not hex_key:
        return "?"
    try:
        return public_key_to_text(bytes.fromhex(hex_key))
    except (ValueError, InvalidKey):
        return "?"


# --- the commands ---------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from node.cli.keys import make_recovery, recovery_sheet  # noqa: PLC0415 - keys imports this module

    directory = chosen_data_dir(args.data_dir)
    lock = lock_data_dir(directory)
    try:
        config = load_config(data_dir=directory, flags={"name": args.name, "areas": args.areas})
        files = ensure_data_dir(config)
        # A new node gets the chapter's recovery key, shown this once (node/cli/keys.py).
        fresh = files.created and read_recovery_key(config.data_dir) is None
        recovery = make_recovery(config.data_dir) if fresh else None
    finally:
        lock.release()
    public_key = files.identity.public_key
    state = "created" if files.created else "already existed"
    answer: dict[str, Any] = {"data_dir": str(config.data_dir), "public_key": public_key.hex(),
                              "key": public_key_to_text(public_key), "created": files.created}  # fmt: skip
    human = f"data directory {config.data_dir} {state}\nnode key {answer['key']}"
    published = read_recovery_key(config.data_dir)
    answer["recovery_key"] = None if published is None else public_key_to_text(published)
    if recovery is not None:
        answer["recovery_words"] = recovery.words
        human += "\n\n" + recovery_sheet(recovery)
    print_answer(args, answer, human)
    return ExitCode.DONE


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415 - the server's imports, kept out of the other commands' start

    from node.app import configure_logging, serve  # noqa: PLC0415

    directory = chosen_data_dir(args.data_dir)
    lock = lock_data_dir(directory)  # before anything in the directory is read, written or opened
    try:
        flags: dict[str, Any] = {"peers": args.peers, "log_level": args.log_level, "max_peers": args.max_peers,
                                 "mdns_interfaces": args.mdns_interfaces}  # fmt: skip
        if args.listen:
            flags["listen_host"], flags["listen_port"] = args.listen
        if args.no_mdns:
            flags["mdns"] = False
        if args.no_peer_exchange:
            flags["peer_exchange"] = False
        config = load_config(data_dir=directory, flags=flags)
        configure_logging(config.log_level)
        files = ensure_data_dir(config)

        def ready(url: str) -> None:
            print(f"mutualaid node listening on {url}", flush=True)

        try:
            asyncio.run(serve(config, files.identity, str(files.database), ready=ready, progress=ProgressBar()))
        except OSError as exc:
            where = f"{config.listen_host}:{config.listen_port}"
            raise CliError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    finally:
        lock.release()
    return ExitCode.DONE


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


def admin_token(directory: Path, command: str) -> AdminToken:
    """The operator's admin token, from the node's data directory (a usage error saying where it looked)."""
    try:
        return AdminToken(read_admin_token(directory))
    except DataDirError as exc:
        raise CliError(
            f"{exc}. {command} reads the admin token from the node's data directory: give it with --data-dir DIR "
            f"(make run uses ./data; mutualaid run without --data-dir uses {DATA_DIR_DEFAULT})"
        ) from None


def _peer_lines(peer: dict[str, Any]) -> list[str]:
    lines = [
        f"{peer['state']:10} {peer['url']}  ({peer['source']})",
        f"  key {_key_text(peer['public_key'])}",
        f"  last sync {peer['last_sync'] or 'never'}, failures in a row {peer['failures']}",
    ]
    if peer["last_error"]:
        lines.append(f"  last error: {peer['last_error']}")
    return lines


def cmd_peers(args: argparse.Namespace) -> int:
    directory = chosen_data_dir(args.data_dir)
    token, node = admin_token(directory, "peers"), node_of(args)
    wrong = f"the admin token in {directory} is not the one of the node at {node}: give that node's --data-dir"
    off = f"the node at {node} has no admin token, so its peers cannot be managed through its API"
    explain = {"forbidden": wrong, "unauthorized": wrong, "admin_off": off}
    if args.action == "list":
        result = call(node, "GET", "/api/v1/peers", token=token, explain=explain)
        lines = [line for peer in result["peers"] for line in _peer_lines(peer)]
        print_answer(args, result, "\n".join(lines) if lines else "no peers")
        return ExitCode.DONE
    if not args.url:
        raise CliError(f"peers {args.action} needs the peer's URL")
    if args.action == "add":
        result = call(node, "POST", "/api/v1/peers", {"url": args.url}, token=token, explain=explain)
    else:
        path = f"/api/v1/peers{query_string({'url': args.url})}"
        result = call(node, "DELETE", path, token=token, explain=explain)
    print_answer(args, result, f"{'added' if args.action == 'add' else 'removed'} {result['url']}")
    return ExitCode.DONE
