"""The operator's tools: backup and restore of a node's data directory
(``node/operate/backup.py``), and the node as a systemd service (``node/operate/service.py``).

``backup`` reads the data directory's files (the node may be running: each
database is copied by SQLite's online backup); ``restore`` makes a new data
directory from a backup. The passphrase that seals the node key in a backup
is read from ``$MUTUALAID_BACKUP_PASSPHRASE``, else asked on the terminal
(twice when it is set), never taken as an argument.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from node.cli.admin import admin_token, data_dir_option
from node.cli.bundle import node_option
from node.cli.client import (
    BULK_TIMEOUT_S,
    CliError,
    ExitCode,
    add_actions,
    add_node_options,
    node_of,
    opened,
    read_chunks,
)
from node.core.config import BACKUP_PASSPHRASE_VARIABLE, ENV_PREFIX, ConfigError, chosen_data_dir, load_config
from node.core.datadir import IDENTITY_FILE
from node.core.hosts import private_channel
from node.operate import doctor, service
from node.operate.backup import (
    MIN_PASSPHRASE,
    BackupError,
    Made,
    check_target,
    make_backup,
    needs_passphrase,
    receive_backup,
    restore,
)


def register(sub: Any) -> None:
    backup = sub.add_parser(
        "backup",
        help="write a backup of a node's data directory to one file (the node may be running)",
        description="Write a consistent copy of a node's data directory to FILE: its records, manage links, "
        "removals, blocks and flags (records.db), the chapter's roll, decisions and mandates (chapter.db), "
        "config.toml and the admin token; with --with-key the node key too, sealed with a passphrase. "
        "The node may be running: each database is copied with SQLite's online backup and checked. With --node "
        "the running node makes it and sends it, over loopback or https only (it holds the roll's names and the "
        "admin token; with --with-key, the passphrase travels to the node). FILE is written whole or not at "
        "all, readable by you alone, so keep it as you keep the node.",
    )
    backup.add_argument("file", type=Path, metavar="FILE", help="the backup file to write (replaced if it exists)")
    data_dir_option(backup, "the node's data directory (with --node, where its admin token is)")
    node_option(backup, "make the backup", "the files of --data-dir are read directly")
    backup.add_argument(
        "--with-key", action="store_true",
        help=f"add the node key, sealed with a passphrase (${BACKUP_PASSPHRASE_VARIABLE}, else asked twice; "
        f"at least {MIN_PASSPHRASE} characters; default: the key stays out, kept apart as you choose)",
    )  # fmt: skip
    backup.add_argument("--json", action="store_true", help="print what was written as JSON, for scripts")
    backup.set_defaults(handler=cmd_backup)

    restoring = sub.add_parser(
        "restore",
        help="make a new data directory from a backup",
        description="Make DIR hold the node a backup holds: the same records, manage links, roll, decisions, "
        "removals, blocks and flags. Every file is checked against the backup's list of digests, and every "
        "database, before anything is written to DIR; DIR must be new or hold no node. A backup with the "
        f"node key asks for its passphrase (${BACKUP_PASSPHRASE_VARIABLE}, else asked); without it, put the "
        f"node's {IDENTITY_FILE} in DIR before starting it, or the node starts as a new chapter. Restoring "
        "takes no --node: it makes a directory no node runs on (stop a node before restoring over its place).",
    )
    restoring.add_argument("file", type=Path, metavar="FILE", help="the backup file to restore")
    data_dir_option(restoring, "the data directory to make")
    restoring.add_argument("--json", action="store_true", help="print what was restored as JSON, for scripts")
    restoring.set_defaults(handler=cmd_restore)
    _register_service(sub)
    _register_doctor(sub)


def _register_doctor(sub: Any) -> None:
    checking = sub.add_parser(
        "doctor",
        help="check a node and say what to do about what is wrong",
        description="Check a node: its data directory's permissions (the key and the admin token readable by "
        "the node alone), its databases' integrity (read-only, while it runs), free disk, the newest backup's "
        "age (in --backups, or the node's own daily ones) and whether the node's daily backups fail, whether "
        "the node answers, each peer's link and whether it can be reached, and each peer's clock against this "
        "machine's. Each finding is ok, warn or fail, with what to do. Exits 1 "
        "when something failed.",
    )
    data_dir_option(checking, "the node's data directory")
    add_node_options(checking)
    checking.add_argument(
        "--backups", type=Path, metavar="DIR",
        help="where the node's backups (*.backup) are kept (default: where the node writes its daily backups, "
        "with backup_daily_keep set; else their age is not checked)",
    )  # fmt: skip
    checking.set_defaults(handler=cmd_doctor)


def _register_service(sub: Any) -> None:
    services = sub.add_parser(
        "service",
        help="run the node as a systemd service (a Raspberry Pi, a laptop kept on)",
        description="Run the node as a systemd service, started at boot, restarted when it fails, logging to "
        "the journal (journalctl -u mutualaid).",
    )
    actions = add_actions(services, "action")
    installing = actions.add_parser(
        "install",
        help="write the systemd unit, with the node's own user and data directory",
        description=f"Write {service.UNIT_NAME} into the unit directory: the node runs as its own user "
        "(made, as a system user with no shell, when it is missing: run this as root), with its data "
        "directory (made 0700, that user's) the only path it may write, no new privileges, its own /tmp, "
        "restarted when it fails, and a stop timeout longer than the node's own shutdown. Then: "
        "systemctl daemon-reload && systemctl enable --now mutualaid.",
    )
    installing.add_argument(
        "--data-dir", type=Path, metavar="DIR",
        help=f"the node's data directory (not ${ENV_PREFIX}DATA_DIR: the service's own; default: "
        f"{service.DATA_DIR})",
    )  # fmt: skip
    installing.add_argument("--user", default=service.USER, help=f"the user the node runs as (default: {service.USER})")
    installing.add_argument(
        "--unit-dir", type=Path, default=service.UNIT_DIR, metavar="DIR",
        help=f"where the unit file goes (default: {service.UNIT_DIR})",
    )  # fmt: skip
    installing.add_argument("--print", action="store_true", help="print the unit instead of installing anything")
    installing.set_defaults(handler=cmd_service_install)


def _passphrase(confirm: bool) -> bytes:
    given = os.environ.get(BACKUP_PASSPHRASE_VARIABLE)
    if given is None:
        if not sys.stdin.isatty():
            raise CliError(f"the node key is sealed with a passphrase: set ${BACKUP_PASSPHRASE_VARIABLE}, or run "
                           "this on a terminal to be asked")  # fmt: skip
        given = getpass.getpass("passphrase for the node key: ")
        if confirm and getpass.getpass("the same passphrase again: ") != given:
            raise CliError("the two passphrases differ: nothing written")
    if confirm and len(given) < MIN_PASSPHRASE:
        raise CliError(f"the passphrase is shorter than {MIN_PASSPHRASE} characters: choose a longer one")
    return given.encode()


def cmd_backup(args: argparse.Namespace) -> int:
    data_dir = chosen_data_dir(args.data_dir)
    if args.node:
        return _backup_through(args, data_dir)
    passphrase = _passphrase(confirm=True) if args.with_key else None
    try:
        made = make_backup(data_dir, args.file, passphrase)
    except BackupError as exc:
        raise CliError(str(exc), ExitCode.REFUSED) from None
    except OSError as exc:
        raise CliError(f"no backup written: {exc} (is the data directory readable by you? run it as the node's "
                       "user or with sudo)", ExitCode.REFUSED) from None  # fmt: skip
    return _made(args, made, str(data_dir), data_dir)


def _made(args: argparse.Namespace, made: Made, source: str, data_dir: Path) -> int:
    if args.json:
        print(json.dumps({"file": str(made.path), "node_key": made.node_key, "files": made.files,
                          "with_key": made.with_key}))  # fmt: skip
        return 0
    total = sum(made.files.values())
    print(f"backed up {source} to {made.path} ({len(made.files)} files, {total:,} bytes before compression)")
    print(f"node {made.node_key}")
    if not made.with_key:
        print(f"the node key is not in it: keep {data_dir / IDENTITY_FILE} apart (or back up --with-key)")
    return 0


def _backup_through(args: argparse.Namespace, data_dir: Path) -> int:
    """The running node makes the backup and streams it; it is checked whole before it takes FILE's name."""
    if not private_channel(args.node):
        raise CliError(f"a backup holds the roll's names and the admin token: ask for it over https or on the "
                       f"node's own machine (http://127.0.0.1:PORT), not in the clear from {args.node}")  # fmt: skip
    body = {"passphrase": _passphrase(confirm=True).decode()} if args.with_key else {}
    token = admin_token(data_dir, "backup")
    try:
        with opened(args.node, "POST", "/api/v1/backup", body, token=token, timeout=BULK_TIMEOUT_S) as response:
            made = receive_backup(read_chunks(args.node, response), args.file)
    except BackupError as exc:
        raise CliError(f"the node at {args.node} sent no whole backup ({exc}); nothing written",
                       ExitCode.UNREACHABLE) from None  # fmt: skip
    except OSError as exc:
        raise CliError(f"no backup written: {exc}", ExitCode.REFUSED) from None
    return _made(args, made, f"the node at {args.node}", data_dir)


def cmd_restore(args: argparse.Namespace) -> int:
    data_dir = chosen_data_dir(args.data_dir)
    try:
        check_target(data_dir)
        passphrase = _passphrase(confirm=False) if needs_passphrase(args.file) else None
        done = restore(args.file, data_dir, passphrase)
    except BackupError as exc:
        raise CliError(str(exc), ExitCode.REFUSED) from None
    except OSError as exc:
        raise CliError(f"nothing restored: {exc}", ExitCode.REFUSED) from None
    if args.json:
        print(json.dumps({"data_dir": str(done.data_dir), "node_key": done.node_key, "made_at": done.made_at,
                          "files": list(done.files), "with_key": done.with_key}))  # fmt: skip
        return 0
    print(f"restored node {done.node_key} (backed up {done.made_at}) into {done.data_dir}")
    if not done.with_key:
        print(f"the backup holds no node key: copy the node's {IDENTITY_FILE} into {done.data_dir} before "
              "starting it, or it starts as a new chapter with a new key")  # fmt: skip
    return 0


def cmd_service_install(args: argparse.Namespace) -> int:
    data_dir = (args.data_dir or service.DATA_DIR).absolute()
    try:
        if args.print:
            service.check_path(data_dir)
            print(service.unit(data_dir, args.user, service.group_of(args.user)), end="")
            return 0
        done = service.install(data_dir, args.user, args.unit_dir)
    except service.ServiceError as exc:
        raise CliError(str(exc), ExitCode.REFUSED) from None
    except OSError as exc:
        raise CliError(f"the service is not installed: {exc} (run this as root: sudo)", ExitCode.REFUSED) from None
    if done.user_created:
        print(f"made the system user {done.user} (no shell, no login)")
    print(f"wrote {done.unit_file}: the node runs as {done.user} on {done.data_dir}")
    print("start it now and at every boot: systemctl daemon-reload && systemctl enable --now mutualaid")
    print("its log: journalctl -u mutualaid")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    data_dir = chosen_data_dir(args.data_dir)
    settings: list[doctor.Finding] = []
    try:
        config = load_config(data_dir=data_dir)
        daily = config.backups_path if config.backup_daily_keep else None
    except ConfigError as exc:  # the node would not start either: say so, and check the rest
        settings, daily = [doctor.Finding("settings", "fail", str(exc), "fix the setting it names")], None
    try:
        found = settings + doctor.data_dir_checks(data_dir, args.backups, daily)
    except OSError as exc:
        raise CliError(f"cannot read {data_dir}: {exc} (run doctor as the node's user, or with sudo)") from None
    if (data_dir / IDENTITY_FILE).exists():
        if doctor.running_on(data_dir):
            found += doctor.node_checks(node_of(args), admin_token(data_dir, "doctor"))
        else:
            todo = "start it: systemctl start mutualaid (or mutualaid run --data-dir DIR)"
            found.append(doctor.Finding("node", "fail", f"no node runs on {data_dir}", todo))
    if args.json:
        print(json.dumps({"level": doctor.worst(found), "findings": [f.as_json() for f in found]}))
    else:
        for finding in found:
            print(f"{finding.level:4}  {finding.check}: {finding.says}")
            if finding.todo and finding.level != "ok":
                print(f"      to do: {finding.todo}")
    return ExitCode.REFUSED if doctor.worst(found) == "fail" else ExitCode.DONE
