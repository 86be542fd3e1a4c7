"""The member web page: ``GET /`` and the files under ``/static/``.

The page is plain HTML, CSS and ES modules in ``node/members/static/`` (no build
step); it talks to the node only through the public JSON API. This module
serves an allow-list of those files, nothing else from the disk.

Strategy: every file is read once, when the module is first imported, and
kept in memory with its gzip form (when that is smaller) and a strong ETag.
All the files share one version string, a hash of their contents: the page
and the modules refer to each other as ``name?v=VERSION`` (the ``__V__``
placeholder in the sources), so a static file asked for with the current
version is cached for a year as immutable, and a new release changes every
URL at once. ``/`` itself is always revalidated (``no-cache`` + ETag): a
repeat visit costs one small 304.

``/`` also carries what the page reads from the node (its name, areas,
categories and form limits: ``node/members/pagedata.py``) as a JSON data
block in place of ``__NODE_DATA__``, so the first load makes no extra
request for them. That page is made once per app at start-up
(``install_page``); its ETag is a hash of the whole body, so it changes
whenever the data does.

Every response from here carries the page's security headers: a strict
Content-Security-Policy (scripts, styles and connections from this origin
only; no inline code, no framing, no base URI, forms only to this origin),
``nosniff``, ``no-referrer`` (manage links live in the URL fragment, which
never travels, and the policy keeps every other URL out of Referer too) and
``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from node.chapter.settings import ChapterState
from node.chapter.state import CHAPTER
from node.core.errors import ApiError, Code
from node.core.state import CONFIG, IDENTITY
from node.members.pagedata import page_data, script_text

routes = web.RouteTableDef()

STATIC_DIR = Path(__file__).resolve().parent / "static"
VERSION_PLACEHOLDER = b"__V__"
DATA_PLACEHOLDER = b"__NODE_DATA__"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# The allow-list: every file the page may load, with its type. Anything else
# under /static/ is a 404, whatever is on the disk.
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
PAGE = "index.html"
FILES = (
    PAGE,
    "app.css",
    "app.js",
    "i18n.js",
    "i18n-views.js",
    "i18n-chapter.js",
    "api.js",
    "dom.js",
    "forms.js",
    "browse.js",
    "post.js",
    "record.js",
    "manage.js",
    "organizer.js",
    "report.js",
    "charts.js",
    "chapter.js",
    "join.js",
    "me.js",
    "proposals.js",
    "propose.js",
    "proposal.js",
    "roll.js",
    "decisions.js",
    "i18n-massline.js",
    "massline.js",
    "heard.js",
    "findings.js",
    "events.js",
    "eventform.js",
)
_GZIP_AT_LEAST = 512  # bytes; below this the gzip header costs more than it saves
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


def _load(directory: Path) -> tuple[str, dict[str, Asset]]:
    raw = {name: (directory / name).read_bytes() for name in FILES}
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(name.encode() + b"\0" + raw[name] + b"\0")
    version = digest.hexdigest()[:12]
    assets = {name: _asset(name, data.replace(VERSION_PLACEHOLDER, version.encode())) for name, data in raw.items()}
    return version, assets


def _asset(name: str, body: bytes) -> Asset:
    packed = gzip.compress(body, compresslevel=9, mtime=0)
    gzipped = packed if len(body) >= _GZIP_AT_LEAST and len(packed) < len(body) else None
    etag = hashlib.sha256(body).hexdigest()[:20]
    return Asset(body, gzipped, _TYPES[Path(name).suffix], etag)


# Read at import, before any event loop runs: a few tens of kilobytes.
VERSION, ASSETS = _load(STATIC_DIR)


class PageBox:
    """``/`` for this node: index.html with the node's data in it (replaced
    when the chapter's categories or settings change)."""

    def __init__(self) -> None:
        self.asset: Asset | None = None


PAGE_ASSET = web.AppKey("page", PageBox)


def install_page(app: web.Application) -> None:
    """Make this node's ``/`` from its config, identity and the chapter's state, and
    make it again whenever a decision changes that state (the ETag follows the body)."""
    box = PageBox()
    app[PAGE_ASSET] = box
    config, identity = app[CONFIG], app[IDENTITY]

    def make(state: ChapterState) -> None:
        data = script_text(page_data(config, identity, state))
        template = ASSETS[PAGE].body
        if template.count(DATA_PLACEHOLDER) != 1:  # pragma: no cover - index.html is ours
            raise RuntimeError(f"{PAGE} must hold {DATA_PLACEHOLDER.decode()} once")
        box.asset = _asset(PAGE, template.replace(DATA_PLACEHOLDER, data))

    make(app[CHAPTER].state)
    app[CHAPTER].on_change(make)


def _respond(request: web.Request, asset: Asset, cache_control: str) -> web.Response:
    use_gzip = asset.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", "").lower()
    etag = f'"{asset.etag}-gz"' if use_gzip else f'"{asset.etag}"'
    headers = {**SECURITY_HEADERS, "Cache-Control": cache_control, "ETag": etag, "Vary": "Accept-Encoding"}
    if _matches(request.headers.get("If-None-Match", ""), etag):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = asset.content_type
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        assert asset.gzipped is not None
        return web.Response(body=asset.gzipped, headers=headers)
    return web.Response(body=asset.body, headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


@routes.get("/")
async def page(request: web.Request) -> web.Response:
    asset = request.app[PAGE_ASSET].asset
    assert asset is not None
    return _respond(request, asset, REVALIDATE)


@routes.get("/static/{name}")
async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name == PAGE or name not in ASSETS:
        raise ApiError(Code.NOT_FOUND, "no such file")
    fresh = request.query.get("v") == VERSION
    return _respond(request, ASSETS[name], IMMUTABLE if fresh else REVALIDATE)
