"""The aiohttp application and the process around it.

Start-up and shutdown live in ``cleanup_ctx`` generators, in order: the
store opens first and closes last (after the writer has committed everything
queued, so SIGTERM loses nothing acknowledged); background tasks are owned by
the context that started them, which cancels and awaits them on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import ipaddress
import logging
import signal
import sys
import urllib.parse
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from crypto import NodeIdentity
from node import routes
from node.chapter import roll_api
from node.chapter.auth import MEMBER_LIMITER, MemberLimiter
from node.chapter.closer import CLOSER, Closer, effect_parts
from node.chapter.settings import ChapterBox, ChapterState
from node.chapter.state import CHAPTER, CHAPTER_STORE
from node.core.clock import NETWORK_CLOCK, PEER_OFFSETS, SYSTEM_CLOCK
from node.core.config import SHUTDOWN_TIMEOUT_S, NodeConfig
from node.core.datadir import CHAPTER_FILE, DataDirError, read_admin_token, read_recovery_key
from node.core.errors import AppRunner, Handler, error_middleware
from node.core.hosts import (
    Network,
    forwarded_client,
    forwarded_host,
    forwarded_scheme,
    is_loopback_host,
    is_trusted_proxy,
    networks,
)
from node.core.metrics import Metrics
from node.core.state import ADMIN, ADMIN_TOKEN, COMMUNITY, CONFIG, IDENTITY, METRICS, NODE_PROFILE, STORE, ProfileBox
from node.members import events, ratelimit, replies, report, security
from node.members import web as page
from node.operate.api import BACKUPS
from node.operate.daily import NodeBackups
from node.peering import peer_api
from node.peering.checkers import Checker
from node.peering.feed import RecordFeed
from node.peering.gossip import Gossip
from node.peering.ingest import Ingestor
from node.peering.parts import PeeringParts
from node.peering.policy import Limits, Policy
from node.peering.spanning import Spanning
from node.peering.state import FEED, GOSSIP, INGEST, POLICY
from node.peering.sync import SYNC_PROGRESS, node_filter
from protocol.records import DEFAULT_TTL, NODE_PROFILE_SLOT, Record, build_record, new_version
from storage import RecordStore
from storage.admin import AdminStore
from storage.chapter import ChapterStore

log = logging.getLogger("mutualaid.node")


COMPRESS_FROM_BYTES = 1024


@web.middleware
async def compress_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """gzip the member API's larger JSON answers for clients that accept it: a
    page of search results shrinks about four times, which matters on an old
    phone with a bad connection. Peer answers are left alone (they are
    msgpack, signed, and already compact)."""
    response = await handler(request)
    if (
        request.path.startswith("/api/")
        and isinstance(response, web.Response)
        and response.content_type == "application/json"
        and response.body is not None
        and len(response.body) >= COMPRESS_FROM_BYTES  # type: ignore[arg-type]
        and "gzip" in request.headers.get("Accept-Encoding", "")
        and "Authorization" not in request.headers  # replies (contacts) beside attacker text: no BREACH oracle
    ):
        response.enable_compression(web.ContentCoding.gzip)
    return response


def forwarded_middleware(proxies: tuple[Network, ...]) -> Middleware:
    """Behind a trusted reverse proxy, the request as the proxy received it:
    from the client it forwards (``node.core.hosts.forwarded_client``), so every
    per-address limit sees the member; and, where the proxy says so, with the
    scheme (``X-Forwarded-Proto``) and host (``X-Forwarded-Host``) the client
    used, so a peer request signed for the node's public URL is checked against
    that URL even when the proxy rewrote ``Host``. From anyone else these
    headers are the sender's own words and change nothing."""

    @web.middleware
    async def from_forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_trusted_proxy(request.remote, proxies):
            return await handler(request)
        headers = request.headers
        client = forwarded_client(request.remote, headers.getall("X-Forwarded-For", []), proxies)
        scheme = forwarded_scheme(headers.getall("X-Forwarded-Proto", []))
        host = forwarded_host(headers.getall("X-Forwarded-Host", []))
        as_sent = request.clone(
            remote=client or request.remote or "", scheme=scheme or request.scheme, host=host or request.host
        )
        return await handler(as_sent)

    return from_forwarded


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    request.app[LAST_ACTIVITY][0] = SYSTEM_CLOCK.monotonic()
    response = await handler(request)
    request.app[METRICS].count("http_requests_total", status=f"{response.status // 100}xx")
    return response


DATABASE = web.AppKey("database", str)
LAST_ACTIVITY = web.AppKey("last_activity", list)  # [monotonic time of the last request]
IDLE_TRIM_AFTER_S = 5.0
_GIVEN_TOKEN = web.AppKey("given_admin_token", str)


def create_app(
    config: NodeConfig, identity: NodeIdentity, database: str, admin_token: str | None = None
) -> web.Application:
    """The node's app. ``admin_token`` defaults to the one in the data directory;
    without one, peer administration is refused."""
    first = [forwarded_middleware(networks(config.trusted_proxies))] if config.trusted_proxies else []
    app = web.Application(
        middlewares=[*first, count_requests, compress_json, error_middleware, peer_api.peer_auth_middleware],
        client_max_size=config.max_body_bytes,
    )
    app[CONFIG] = config
    app[IDENTITY] = identity
    app[DATABASE] = database
    if admin_token is not None:
        app[_GIVEN_TOKEN] = admin_token
    app[METRICS] = Metrics()
    app[LAST_ACTIVITY] = [SYSTEM_CLOCK.monotonic()]
    app[FEED] = RecordFeed()
    app[NODE_PROFILE] = ProfileBox()
    app[POLICY] = Policy(
        Limits(
            peer_rate=config.peer_push_rate,
            peer_burst=config.peer_push_burst,
            author_rate=config.author_push_rate,
            author_burst=config.author_push_burst,
        )
    )
    app[peer_api.REPLAY] = peer_api.ReplayCache()
    app[peer_api.POLLERS] = peer_api.Pollers()
    app[peer_api.SPANNING] = Spanning(identity.public_key)
    app[peer_api.PUBLIC_HOSTS] = frozenset(urllib.parse.urlsplit(url).netloc.lower() for url in config.public_urls)
    app[BACKUPS] = NodeBackups(config, SYSTEM_CLOCK, app[METRICS])
    app.on_shutdown.append(_wake_long_polls)
    # Started in this order, stopped in reverse: the store outlives everything that writes to it.
    app.cleanup_ctx.extend([_store_ctx, _chapter_ctx, _backups_ctx, _sweeper_ctx, _gossip_ctx])
    # The members' parts: replies and their delivery, the report's cache,
    # cross-site protection and the per-address write limit, security headers.
    app[replies.COMMUNITY_DATABASE] = database
    app[report.REPORT_CACHE] = report.ReportCache()
    # The chapter: its state in force (read from chapter.db at start), the
    # proposal closer, the invite guesser's limit; a decision that changes the
    # categories or settings re-makes the page's data and empties the report cache.
    app[CHAPTER] = ChapterBox()
    app[roll_api.JOIN_LIMITER] = roll_api.JoinLimiter()
    app[MEMBER_LIMITER] = MemberLimiter()
    app[events.CALENDAR_CACHE] = events.CalendarCache()
    app[CHAPTER].on_change(lambda _: app[report.REPORT_CACHE].clear())
    page.install_page(app)  # / with the node's name, areas, categories and form limits in it
    app.middlewares.append(security.cross_site_middleware)
    app[ratelimit.WRITE_LIMITER] = ratelimit.WriteLimiter(
        config.member_write_burst, config.member_write_every_s, limit_loopback=config.member_write_limit_loopback
    )
    app.middlewares.append(ratelimit.write_limit_middleware)
    app[replies.REPLY_QUOTA] = replies.ReplyQuota()
    app[replies.REPLY_LOCK] = asyncio.Lock()
    app.on_response_prepare.append(security.add_security_headers)
    app.cleanup_ctx.append(replies.community_ctx)  # after the record store, which creates the schema
    routes.install(app)
    return app


async def _wake_long_polls(app: web.Application) -> None:
    await app[FEED].close()


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    app[STORE] = await RecordStore.open(app[DATABASE])  # creates and migrates the schema
    # Peers mostly reconcile over the node's own filter: its live set is read in the background now.
    app[STORE].sync.prepare(node_filter(app[CONFIG]), NETWORK_CLOCK.wall())  # the clock its readers use
    try:
        app[ADMIN] = await AdminStore.open(app[DATABASE])
    except BaseException:
        await app[STORE].close()
        raise
    try:
        token = app.get(_GIVEN_TOKEN)
        app[ADMIN_TOKEN] = token if token is not None else await asyncio.to_thread(_read_token, app[CONFIG])
        app[POLICY].load(await app[ADMIN].policy())
        app[POLICY].restore_scores(await app[ADMIN].scores(), SYSTEM_CLOCK.monotonic(), SYSTEM_CLOCK.wall())
        if app[STORE].keys.retired(app[IDENTITY].public_key):
            raise DataDirError(
                "this node's key was retired by a key rotation: its peers refuse it. Run `mutualaid key rotate` "
                "to finish the rotation (or restore the data directory the rotation left)"
            )
        filtered = node_filter(app[CONFIG])
        app[INGEST] = Ingestor(app[STORE], app[FEED], app[METRICS], app[POLICY], filtered, NETWORK_CLOCK)
        app[INGEST].checker = Checker()  # its processes start with the first big sync batch
        profile = app[NODE_PROFILE].record = await _publish_profile(app)
        if profile.get("recovery") is None:
            log.warning("this node has no recovery key: a lost or stolen node key would end the chapter's identity; "
                        "run `mutualaid key recovery` and keep its words on paper")  # fmt: skip
        yield
    finally:
        checker = app[INGEST].checker if INGEST in app else None
        if checker is not None:
            await checker.close()
        await app[ADMIN].close()
        await app[STORE].close()


async def _chapter_ctx(app: web.Application) -> AsyncIterator[None]:
    """The chapter's file, its state in force, and the task that closes proposals
    (which first finishes what a stopped node left half done)."""
    chapter = await ChapterStore.open(str(Path(app[DATABASE]).with_name(CHAPTER_FILE)))
    app[CHAPTER_STORE] = chapter
    try:
        app[CHAPTER].set(ChapterState.from_stored(await chapter.settings.all()))
        closer = Closer(chapter, app[IDENTITY], app[STORE], app[FEED], lambda: effect_parts(app), NETWORK_CLOCK)
        app[CLOSER] = closer
        closer.start()
        try:
            yield
        finally:
            await closer.stop()
    finally:
        await chapter.close()


async def _backups_ctx(app: web.Application) -> AsyncIterator[None]:
    """The daily backups, when ``backup_daily_keep`` asks for them (node/operate/daily.py)."""
    if app[CONFIG].backup_daily_keep == 0:
        yield
        return
    task = asyncio.create_task(app[BACKUPS].run(), name="daily backups")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _gossip_ctx(app: web.Application) -> AsyncIterator[None]:
    parts = PeeringParts(
        identity=app[IDENTITY],
        store=app[STORE],
        admin=app[ADMIN],
        policy=app[POLICY],
        feed=app[FEED],
        ingest=app[INGEST],
        metrics=app[METRICS],
        pollers=app[peer_api.POLLERS],
        spanning=app[peer_api.SPANNING],
        serves=node_filter(app[CONFIG]),
        progress=app.get(SYNC_PROGRESS),
        clock=NETWORK_CLOCK,
        peer_clocks=PEER_OFFSETS,
    )
    app[GOSSIP] = Gossip(app[CONFIG], parts)
    app[INGEST].on_rotation = lambda old, new: _follow_rotation(app, old, new)
    await _follow_in_tables(app, dict(app[STORE].keys.rotated))
    await app[GOSSIP].start()
    try:
        yield
    finally:
        await app[GOSSIP].stop()


async def _follow_rotation(app: web.Application, old: bytes, new: bytes) -> None:
    """A chapter named a new key (protocol/rotation.py): the operator's rules
    about the old key (a block, an allowance) and our links to it follow the new one."""
    await _follow_in_tables(app, {old: new})
    await app[GOSSIP].rekey(old, new)


async def _follow_in_tables(app: web.Application, rotated: dict[bytes, bytes]) -> None:
    """The operator's rules and pinned peers on retired keys move to the keys
    that replaced them. Run for each rotation as it arrives, and for all of
    them at every start (idempotent), so one stored while the node was down
    (a bundle's) or cut short by a crash is followed too."""
    admin = app[ADMIN]
    keys = app[STORE].keys
    for subject, key, action in await admin.policy():
        if key in rotated:
            await admin.set_policy(subject, keys.current(key), action)
    for entry in await admin.peers():
        if entry.public_key is not None and entry.public_key in rotated:
            await admin.repin(entry.url, keys.current(entry.public_key))
    app[POLICY].load(await admin.policy())


async def _sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(_sweep_forever(app), name="expiry sweep"),
        asyncio.create_task(_trim_when_idle(app), name="idle memory trim"),
        asyncio.create_task(_renew_profile_forever(app), name="profile renewal"),
        asyncio.create_task(_save_scores_forever(app), name="peer scores"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await _save_scores(app)


SAVE_SCORES_EVERY_S = 10


async def _save_scores_forever(app: web.Application) -> None:
    while True:
        await asyncio.sleep(SAVE_SCORES_EVERY_S)
        try:
            await _save_scores(app)
        except Exception:  # retried at the next round
            log.exception("saving peer scores failed")


async def _save_scores(app: web.Application) -> None:
    """Peer scores outlive reconnects and restarts: a peer cannot clear a
    bad score by reconnecting, nor a ban by waiting for our restart."""
    dirty = app[POLICY].dirty_scores(SYSTEM_CLOCK.monotonic(), SYSTEM_CLOCK.wall())
    if dirty:
        await app[ADMIN].save_scores(dirty)


PROFILE_RENEW_CHECK_S = 3600
PROFILE_RENEW_BEFORE_S = 7 * 86_400


async def _renew_profile_forever(app: web.Application) -> None:
    while True:
        await asyncio.sleep(PROFILE_RENEW_CHECK_S)
        try:
            await renew_profile_if_due(app, NETWORK_CLOCK.wall())
        except Exception:  # retried at the next check
            log.exception("renewing the node profile failed")


async def renew_profile_if_due(app: web.Application, now: float) -> bool:
    """Re-sign the node's profile a week before it expires: an expired profile
    would make every peer refuse our hello, and lose our sealing key."""
    if app[NODE_PROFILE].current.expires_at - now > PROFILE_RENEW_BEFORE_S:
        return False
    profile = await _publish_profile(app)
    app[NODE_PROFILE].record = profile
    await app[FEED].publish([profile], None)
    log.info("node profile renewed until %d", app[NODE_PROFILE].current.expires_at)
    return True


def advertised_addresses(config: NodeConfig) -> list[str]:
    """The IPv4 addresses to announce on the LAN: the one the node listens
    on, or for a wildcard or a host name, the LAN interfaces' (those chosen
    for mDNS)."""
    try:
        if ipaddress.ip_address(config.listen_host).version == 4:
            return [config.listen_host]
    except ValueError:
        pass
    if is_loopback_host(config.listen_host):  # ::1 or localhost
        return ["127.0.0.1"]
    from node.peering.discovery import lan_addresses  # noqa: PLC0415 - zeroconf is loaded only when mDNS is on

    return lan_addresses(config.mdns_interfaces)


async def on_listening(app: web.Application, port: int) -> None:
    """Once the port is bound (a port of 0 is only known then): start LAN discovery."""
    config = app[CONFIG]
    gossip = app[GOSSIP]
    addresses = advertised_addresses(config)
    gossip.set_own_urls([*config.public_urls, f"http://{config.listen_host}:{port}",
                         *(f"http://{a}:{port}" for a in addresses)])  # fmt: skip
    if config.mdns:
        interfaces = config.mdns_interfaces
        if is_loopback_host(config.listen_host) and not interfaces:
            interfaces = ("127.0.0.1",)  # a node on loopback can only meet nodes on this machine
        await gossip.start_discovery(port, addresses, interfaces)


async def _trim_when_idle(app: web.Application) -> None:
    """Once requests stop for a few seconds, hand memory back to the system:
    a Raspberry Pi node spends most of its life idle, and a big sync leaves
    caches and freed heap behind."""
    trimmed_at = -1.0
    while True:
        last = app[LAST_ACTIVITY][0]
        quiet = SYSTEM_CLOCK.monotonic() - last
        if last == trimmed_at or quiet < IDLE_TRIM_AFTER_S:
            # Wake when the last request is IDLE_TRIM_AFTER_S old (or after as long, once trimmed).
            await asyncio.sleep(IDLE_TRIM_AFTER_S - quiet if last != trimmed_at else IDLE_TRIM_AFTER_S)
            continue
        trimmed_at = last
        await app[STORE].release_memory()
        if COMMUNITY in app:
            await app[COMMUNITY].release_memory()
        await app[CHAPTER_STORE].release_memory()
        gc.collect()
        _malloc_trim()


def _limit_malloc_arenas() -> None:
    """glibc gives each thread that allocates its own heap arena (aiosqlite
    runs one thread per connection); on a small machine two arenas hold the
    same data in less memory, and the node's threads mostly wait on SQLite.
    Must run before those threads start. A no-op elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def _malloc_trim() -> None:
    """glibc keeps freed heap pages; malloc_trim returns them (no-op elsewhere)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _read_token(config: NodeConfig) -> str:
    try:
        return read_admin_token(config.data_dir)
    except DataDirError:
        return ""


async def _publish_profile(app: web.Application) -> Record:
    """Sign this node's profile afresh at every start (name, areas, URLs, sealing key)."""
    config, identity, store = app[CONFIG], app[IDENTITY], app[STORE]
    now = NETWORK_CLOCK.wall()
    fields = {
        "name": config.name,
        "areas": list(config.areas),
        "urls": list(config.public_urls),
        "seal_key": identity.seal_public_key,
        # The chapter's recovery key, pinned by peers (None leaves it out); if
        # recovery.pub was lost, the pin this node keeps of its own stands in.
        "recovery": await asyncio.to_thread(read_recovery_key, config.data_dir)
        or await store.keys.recovery_for(identity.public_key),
    }
    old = await store.reads.get_by_address(identity.public_key, "node", NODE_PROFILE_SLOT, now)
    if old is None:
        body = {"kind": "node", "slot": NODE_PROFILE_SLOT, "created_at": now, "expires_at": now + DEFAULT_TTL}
        profile = build_record(identity, body | {k: v for k, v in fields.items() if v is not None})
    else:
        profile = new_version(identity, old, now, fields | {"expires_at": now + DEFAULT_TTL})
    await store.writer.put(profile, now)
    return profile


async def _sweep_forever(app: web.Application) -> None:
    interval = app[CONFIG].sweep_interval_s
    while True:
        try:
            removed = await app[STORE].writer.sweep(NETWORK_CLOCK.wall())
            if removed:
                log.info("expiry sweep removed %d records", removed)
            notes = await app[CHAPTER_STORE].outreach.sweep(NETWORK_CLOCK.wall())
            if notes:
                log.info("expiry sweep deleted %d answers' notes past their 90 days", notes)
        except Exception:  # a failed sweep must not end the loop; the next one retries
            log.exception("expiry sweep failed")
        await asyncio.sleep(interval)


async def serve(
    config: NodeConfig,
    identity: NodeIdentity,
    database: str,
    *,
    ready: Callable[[str], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Run the node until SIGTERM or SIGINT, then shut down cleanly."""
    _limit_malloc_arenas()
    app = create_app(config, identity, database)
    if progress is not None:
        app[SYNC_PROGRESS] = progress
    runner = AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, config.listen_host, config.listen_port)
        await site.start()
        port = runner.addresses[0][1]  # the real port when 0 was asked for
        url = f"http://{config.listen_host}:{port}"
        await on_listening(app, port)
        log.info("listening on %s as %s", url, identity)
        if ready is not None:
            ready(url)
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def configure_logging(level: str) -> None:
    """Our loggers at ``level``; every library's at WARNING whatever the level,
    because some log what they are handed (aiosqlite's debug lines carry SQL
    parameters, i.e. members' text), and nothing identifying may be logged."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    logging.getLogger("mutualaid").setLevel(getattr(logging, level.upper()))
