"""First load of the member web page: bytes transferred and requests.

A real ``mutualaid run`` process on 127.0.0.1 (a temporary data directory,
20 posts made through the API so the list the page shows is a full first
page) is loaded the way a browser with an empty cache loads ``/``, over
plain HTTP with ``Accept-Encoding: gzip``: the HTML; every stylesheet,
module preload and script it names; every module those import statically;
the module of the default route (``#/``, imported when the page starts);
and the API calls that route makes (``FIRST_LOAD_API``). Bytes are counted
as they cross the wire: status line, headers and (compressed) body. What the
home page loads once its list is drawn ("What we heard": ``AFTER_PAINT_VIEW``,
the modules it imports that the first load did not, and ``AFTER_PAINT_API``)
is counted apart: it does not hold up the first paint.

No browser runs here (``make bench`` runs outside the loopback-only
namespace, where Chromium must not run). ``tests/web/test_first_load.py``
keeps this model honest: it loads the page in a real Chromium inside the
namespace and checks that it asks for exactly these URLs.

A repeat visit is measured too: ``/`` revalidated with its ETag (a 304),
everything else served from the cache (the URLs carry the version).
"""

from __future__ import annotations

import gzip
import http.client
import json
import re
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_store import figure, info
from tests._launch import NodeProcess, NodeStartError, run_args

Row = dict[str, Any]
TARGET_BYTES = 100 * 1024
POSTS = 20
DEFAULT_VIEW = "browse.js"
FIRST_LOAD_API = ("/api/v1/records?limit=20",)
AFTER_PAINT_VIEW = "heard.js"
AFTER_PAINT_API = ("/api/v1/findings?limit=10",)
_REFS_HTML = re.compile(r"""<(?:link|script)\b[^>]*?\b(?:href|src)="(/static/[^"]+)\"""")
_IMPORTS_JS = re.compile(r"""^import\b(?:[^;"]*?\bfrom)?\s*"(\./[^"]+)";""", re.M)


@dataclass(frozen=True)
class Transfer:
    path: str
    status: int
    header_bytes: int
    body_bytes: int
    body: bytes  # decompressed

    @property
    def total(self) -> int:
        return self.header_bytes + self.body_bytes


def fetch(conn: http.client.HTTPConnection, path: str, headers: dict[str, str] | None = None) -> Transfer:
    conn.request("GET", path, headers={"Accept-Encoding": "gzip", **(headers or {})})
    response = conn.getresponse()
    raw = response.read()
    head = f"HTTP/1.1 {response.status} {response.reason}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in response.getheaders()
    )
    body = gzip.decompress(raw) if response.getheader("Content-Encoding") == "gzip" else raw
    return Transfer(path, response.status, len(head) + 2, len(raw), body)


def first_load(base_url: str) -> list[Transfer]:
    """Every request an empty-cache visit to ``/`` makes before its first paint, in a plausible order."""
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        done: list[Transfer] = [fetch(conn, "/")]
        queue = _REFS_HTML.findall(done[0].body.decode())
        done.extend(_modules(conn, queue, set(queue), default_view=True))
        done.extend(fetch(conn, path, {"Accept": "application/json"}) for path in FIRST_LOAD_API)
        return done
    finally:
        conn.close()


def after_first_paint(base_url: str, first: list[Transfer]) -> list[Transfer]:
    """What the home page asks for once its list is drawn: "What we heard" (its
    module, what that imports beyond the first load, and its API call)."""
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        version = next(t.path.split("?v=")[-1] for t in first if t.path.split("?")[0].endswith("/app.js"))
        view = f"/static/{AFTER_PAINT_VIEW}?v={version}"
        seen = {t.path for t in first} | {view}
        done = _modules(conn, [view], seen, default_view=False)
        done.extend(fetch(conn, path, {"Accept": "application/json"}) for path in AFTER_PAINT_API)
        return done
    finally:
        conn.close()


def _modules(
    conn: http.client.HTTPConnection, queue: list[str], seen: set[str], *, default_view: bool
) -> list[Transfer]:
    """Fetch these files and every module they import statically that is not in ``seen``
    (and, from app.js, the default route's view when ``default_view``)."""
    done: list[Transfer] = []
    while queue:
        path = queue.pop(0)
        got = fetch(conn, path)
        done.append(got)
        if not path.split("?")[0].endswith(".js"):
            continue
        imports = [_resolve(path, ref) for ref in _IMPORTS_JS.findall(got.body.decode())]
        if default_view and path.split("?")[0].endswith("/app.js"):
            version = path.split("?v=")[-1]
            imports.append(f"/static/{DEFAULT_VIEW}?v={version}")
        for ref in imports:
            if ref not in seen:
                seen.add(ref)
                queue.append(ref)
    return done


def _resolve(base: str, ref: str) -> str:
    return urllib.parse.urljoin(base, ref)


def repeat_load(base_url: str, etag: str) -> list[Transfer]:
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        again = [fetch(conn, "/", {"If-None-Match": etag})]
        again.extend(fetch(conn, path, {"Accept": "application/json"}) for path in (*FIRST_LOAD_API, *AFTER_PAINT_API))
        return again
    finally:
        conn.close()


def _start(data: Path, prefix: Sequence[str] = ()) -> tuple[NodeProcess, str]:
    data.mkdir(parents=True)
    (data / "config.toml").write_text('name = "Bench"\nareas = ["u4pr"]\n')
    process = NodeProcess(run_args(data), prefix=prefix)
    try:
        return process, process.wait_ready()
    except NodeStartError as exc:
        process.kill()
        raise RuntimeError(f"the node did not start: {exc}") from None


def _stop(process: NodeProcess) -> None:
    process.stop(30)


def seed(base_url: str, count: int = POSTS) -> None:
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        for n in range(count):
            body = {
                "kind": "need" if n % 2 else "offer",
                "title": f"Winter coat for a child of eight, number {n}",
                "category": "clothing",
                "area": "u4pru",
                "details": "Warm, any colour; we can collect it on a weekday evening. " * 3,
                "languages": ["en", "es"],
                "quantity": "1",
            }
            conn.request("POST", "/api/v1/records", json.dumps(body), {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 201:
                raise RuntimeError(f"posting failed: {response.status}")
    finally:
        conn.close()


@dataclass(frozen=True)
class PageLoad:
    loads: list[Transfer]
    seconds: float
    """The first load's requests one after another over one connection, from the
    first byte sent to the last received: the node's share of a first visit."""
    later: list[Transfer]
    again: list[Transfer]


def measure(prefix: Sequence[str] = ()) -> PageLoad:
    """A fresh node (run under ``prefix``), seeded, loaded as a first visit, then as a repeat one."""
    workdir = Path(tempfile.mkdtemp(prefix="mutualaid-bench-page-"))
    process, url = _start(workdir / "node", prefix)
    try:
        seed(url)
        start = time.perf_counter()
        loads = first_load(url)
        seconds = time.perf_counter() - start
        later = after_first_paint(url, loads)
        again = repeat_load(url, _etag(url))
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)
    return PageLoad(loads, seconds, later, again)


def run() -> list[Row]:
    page = measure()
    loads, later, again = page.loads, page.later, page.again
    total = sum(t.total for t in loads)
    static = sum(t.total for t in loads if not t.path.startswith("/api/"))
    api = total - static
    bad = [t.path for t in loads if t.status != 200]
    note = f"{len(loads)} requests: page+static {static:,} B, API {api:,} B" + (f"; FAILED {bad}" if bad else "")
    return [
        figure(
            "page first load (empty cache, gzip)",
            total / 1024,
            "KB",
            "< 100 KB",
            total < TARGET_BYTES and not bad,
            note=note,
        ),
        info("page first load: requests", len(loads), "requests"),
        info("page first load: time on loopback, one connection", page.seconds * 1000, "ms"),
        info(
            f"page after the first paint ({len(later)} requests: what we heard)",
            sum(t.total for t in later) / 1024,
            "KB",
        ),
        info("page repeat load (304 + API)", sum(t.total for t in again) / 1024, "KB"),
    ]


def _etag(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request("GET", "/", headers={"Accept-Encoding": "gzip"})
        response = conn.getresponse()
        response.read()
        return response.getheader("ETag") or ""
    finally:
        conn.close()


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run()))
