"""The node's configuration: one frozen dataclass, built once at start-up.

Sources, later ones winning: the defaults below, ``config.toml`` in the data
directory, ``MUTUALAID_<FIELD>`` environment variables, command-line flags.
Every source is checked the same way: an unknown key, or a value of the wrong
type or out of range, is a ``ConfigError`` naming the source and the key,
never a silent default.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from protocol import fields as record_fields
from protocol.errors import RecordInvalid
from protocol.peerwire import MAX_BATCH_BYTES

CONFIG_FILE = "config.toml"
ENV_PREFIX = "MUTUALAID_"
NODE_VARIABLE = ENV_PREFIX + "NODE"
"""The node the CLI's member commands talk to (``--node``)."""
MANAGE_TOKEN_VARIABLE = ENV_PREFIX + "MANAGE_TOKEN"
"""A post's manage token for the CLI's manage commands (``--token``)."""
MEMBER_CARD_VARIABLE = ENV_PREFIX + "MEMBER_CARD"
"""A chapter member's card for the CLI's member commands (``--card-file``): never an argument."""
BACKUP_PASSPHRASE_VARIABLE = ENV_PREFIX + "BACKUP_PASSPHRASE"
CLIENT_VARIABLES = frozenset({NODE_VARIABLE, MANAGE_TOKEN_VARIABLE, MEMBER_CARD_VARIABLE, BACKUP_PASSPHRASE_VARIABLE})
"""Read by the CLI as a client, not node settings: a shell that set them can still run a node."""


class ConfigError(Exception):
    """A setting that cannot be used; the message says where it came from."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/mutualaid`` (or ``~/.local/share/mutualaid``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mutualaid"


@dataclass(frozen=True)
class NodeConfig:
    """Everything a node needs to know to run; see docs/NODE.md for each field."""

    data_dir: Path = field(default_factory=default_data_dir)
    """Holds identity.key, admin.token, config.toml and records.db."""
    name: str = "mutualaid node"
    """Shown to members and to peers (the node profile's name)."""
    areas: tuple[str, ...] = ()
    """Geohash prefixes (1-5 characters) this node serves; empty means every area."""
    listen_host: str = "127.0.0.1"
    """Address the HTTP server binds; 0.0.0.0 to serve the LAN."""
    listen_port: int = 8440
    """TCP port; 0 picks a free one (the chosen port is printed and logged)."""
    peers: tuple[str, ...] = ()
    """Static peer URLs, e.g. http://192.168.1.20:8440."""
    public_urls: tuple[str, ...] = ()
    """URLs other nodes use to reach this one when that is not the address it
    listens on (a DNS name, a container name, a proxy): published in the node
    profile and accepted as the destination of signed peer requests."""
    mdns: bool = True
    """Advertise this node and find peers on the LAN by mDNS (``_mutualaid._tcp``)."""
    mdns_interfaces: tuple[str, ...] = ()
    """IPv4 addresses of the interfaces mDNS uses; empty means every interface."""
    peer_exchange: bool = True
    """Learn more peers from the node profiles (with their URLs) that peers relay."""
    max_peers: int = 8
    """Outbound links to peers found by mDNS or peer exchange (configured peers
    are always kept and do not count)."""
    anchors: int = 2
    """Found peers that stayed connected longest, reconnected first at start-up
    whatever discovery says, so a restart cannot be surrounded by strangers."""
    peer_push_rate: int = 100
    """Records per second one peer may push unasked (sustained)..."""
    peer_push_burst: int = 2000
    """...and in one burst (a reconnecting node pushes what it holds)."""
    author_push_rate: int = 20
    """Records per second from one author, whoever relays them..."""
    author_push_burst: int = 500
    """...and in one burst."""
    log_level: str = "info"
    """debug, info, warning or error."""
    max_body_bytes: int = 1024 * 1024
    """Largest HTTP request body accepted, member and peer API alike."""
    sweep_interval_s: int = 600
    """Seconds between expiry sweeps of the store."""
    member_write_burst: int = 30
    """Member writes (post, edit, status, reply, flag) one client address may
    make in a burst (a chapter's shared computer at a busy meeting)..."""
    member_write_every_s: int = 10
    """...then one write per this many seconds (360 an hour)."""
    member_write_limit_loopback: bool = False
    """Limit clients on loopback too. Off by default: behind a reverse proxy on
    the same machine every member arrives from 127.0.0.1 (unless the proxy is in
    ``trusted_proxies``), and local tools and tests post freely."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (``127.0.0.1``, ``10.0.0.0/8``) of reverse proxies in
    front of this node. A request from one counts as from the client its
    ``X-Forwarded-For`` names: the last address there that is no trusted proxy;
    and was sent to the scheme and host its ``X-Forwarded-Proto`` and
    ``X-Forwarded-Host`` say. From anywhere else these headers are ignored."""

    backup_daily_keep: int = 0
    """Backups the running node makes by itself, one a day (without the node key),
    of which it keeps the newest this many, deleting older ones; 0: none."""
    backup_dir: str = ""
    """Where those backups go: empty for ``DATA_DIR/backups``; a relative path is
    inside the data directory (a service may write nowhere else)."""
    backup_every_s: int = 86_400
    """Seconds from one such backup to the next: a day. Shorter is for tests."""

    def __post_init__(self) -> None:
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            top = self.max_peers if high == "max_peers" else high
            if not low <= value <= top:
                raise ConfigError(f"{name} must be from {low} to {high}, not {value}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log_level must be {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        try:
            record_fields.text("name", self.name, max_chars=80)
            for area in self.areas:
                record_fields.geohash("areas", area)
            for name in ("peers", "public_urls"):
                for url in getattr(self, name):
                    record_fields.url(name, url)
        except RecordInvalid as exc:
            raise ConfigError(str(exc)) from None
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(f"trusted_proxies: {proxy[:60]!r} is not an address or a network") from None
        for address in self.mdns_interfaces:
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise ConfigError(f"mdns_interfaces: {address[:60]!r} is not an IPv4 address") from None

    @property
    def config_file(self) -> Path:
        return self.data_dir / CONFIG_FILE

    @property
    def backups_path(self) -> Path:
        """The directory of the node's own daily backups (``backup_dir`` resolved)."""
        return self.data_dir / (Path(self.backup_dir).expanduser() if self.backup_dir else Path(DEFAULT_BACKUP_DIR))


LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_BACKUP_DIR = "backups"
"""``backup_dir`` when not set: inside the data directory."""
SHUTDOWN_TIMEOUT_S = 20.0
"""On SIGTERM, how long requests in flight may take before the node closes them
(then the store commits what is queued and the node exits); a service manager
waits longer than this before it kills the node."""
MIN_BODY_BYTES = 2 * MAX_BATCH_BYTES
"""A body must hold the largest batch of records a peer pushes, with room for its framing."""
_RANGES: dict[str, tuple[int, int | str]] = {
    "listen_port": (0, 65535),
    "max_body_bytes": (MIN_BODY_BYTES, 2**31),
    "sweep_interval_s": (1, 86_400 * 365),
    "member_write_burst": (1, 100_000),
    "member_write_every_s": (1, 86_400),
    "max_peers": (0, 64),
    "backup_daily_keep": (0, 1000),
    "backup_every_s": (1, 7 * 86_400),
    "anchors": (0, "max_peers"),
    **{name: (1, 1_000_000) for name in ("peer_push_rate", "peer_push_burst", "author_push_rate", "author_push_burst")},
}
"""The bounds of each whole-number setting ("max_peers": at most that setting's value)."""
_FIELDS = {f.name: f for f in fields(NodeConfig)}


def _coerce(name: str, value: Any, source: str) -> Any:
    """Turn a TOML or text value into the field's type, or say why not."""
    kind = str(_FIELDS[name].type)
    try:
        if kind == "Path":
            return Path(str(value)).expanduser()
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return value.lower() in ("1", "true", "yes", "on")
            raise ValueError("expected true or false")
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ValueError("expected a whole number")
            return int(value)
        if kind == "tuple[str, ...]":
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError("expected a list of strings")
        if not isinstance(value, str):
            raise ValueError("expected a string")
        return value
    except ValueError as exc:
        raise ConfigError(f"{source}: {name}: {exc}") from None


def _layer(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"{source}: unknown setting {key!r} (known: {known})")
        out[key] = _coerce(key, value, source)
    return out


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and key not in CLIENT_VARIABLES
    }
    return _layer(values, "environment")


def chosen_data_dir(flag: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """The data directory meant: the flag, else ``MUTUALAID_DATA_DIR``, else the
    default. Reads nothing else (no config.toml), so a command that only needs the
    directory (``peers`` finding the admin token) works whatever the settings say."""
    environ = os.environ if environ is None else environ
    if flag is not None:
        return Path(_coerce("data_dir", flag, "command line"))
    if environ.get(ENV_PREFIX + "DATA_DIR"):
        return Path(_coerce("data_dir", environ[ENV_PREFIX + "DATA_DIR"], "environment"))
    return default_data_dir()


def load_config(
    *, data_dir: Path | None = None, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> NodeConfig:
    """Defaults < config.toml < environment < flags."""
    environ = os.environ if environ is None else environ
    env = from_environment(environ)
    flag_values = _layer({k: v for k, v in (flags or {}).items() if v is not None}, "command line")
    directory = data_dir or chosen_data_dir(flag_values.get("data_dir"), environ)
    file_values = read_toml(Path(directory) / CONFIG_FILE)
    merged: dict[str, Any] = {"data_dir": Path(directory)}
    merged |= _layer({k: v for k, v in file_values.items() if k != "data_dir"}, str(Path(directory) / CONFIG_FILE))
    merged |= env
    merged |= flag_values
    merged["data_dir"] = Path(directory)
    try:
        return NodeConfig(**merged)
    except TypeError as exc:  # pragma: no cover - _layer already filters names
        raise ConfigError(str(exc)) from None


def to_toml(config: NodeConfig, keep: tuple[str, ...] = ("name", "areas")) -> str:
    """config.toml for a new data directory: the ``keep`` settings (what
    ``init`` was told) set, every other one listed commented out at its
    default, so a flag given once to ``run`` is not silently made permanent."""
    lines = ["# mutualaid node settings; see docs/NODE.md. Environment and flags override these."]
    defaults = NodeConfig(data_dir=config.data_dir)
    for item in dataclasses.fields(config):
        if item.name == "data_dir":
            continue
        chosen = item.name in keep
        text = _toml_value(getattr(config if chosen else defaults, item.name))
        lines.append(f"{'' if chosen else '# '}{item.name} = {text}")
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_string(str(v)) for v in value) + "]"
    return _toml_string(str(value))


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
