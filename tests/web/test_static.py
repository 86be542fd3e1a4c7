# node/web.py over real HTTP (an app on 127.0.0.1 port 0, no browser): the
# page's security headers, the allow-list, caching (ETag, 304, a year for
# versioned URLs), gzip; and checks over the page's sources: every module
# and stylesheet the page refers to is served, no source builds markup from
# strings, and the English and Spanish tables have the same keys and cover
# every key the modules use.

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from crypto import NodeIdentity
from node import web as page
from node.app import create_app
from node.config import NodeConfig
from tests.node._support import assert_error_shape

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
STATIC = Path(page.__file__).resolve().parent / "static"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    config = NodeConfig(data_dir=tmp_path / "node", listen_port=0)
    app = create_app(config, NodeIdentity.generate(), str(tmp_path / "records.db"), admin_token="")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession(base_url=url, auto_decompress=False) as session:
            yield session
    finally:
        await runner.cleanup()


def assert_security_headers(headers: object) -> None:
    assert isinstance(headers, aiohttp.typedefs.CIMultiDictProxy)  # type: ignore[attr-defined]
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"


async def test_the_page_is_served_with_its_security_headers(http: aiohttp.ClientSession) -> None:
    async with http.get("/", headers={"Accept-Encoding": "identity"}) as response:
        body = await response.text()
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        assert_security_headers(response.headers)
    assert '<script type="module" src="/static/app.js?v=' + page.VERSION + '"></script>' in body
    assert "__V__" not in body
    # No inline script or style anywhere: the CSP would block it, and it must not be needed.
    assert not re.search(r"<script(?![^>]*\bsrc=)", body)
    assert "<style" not in body and "style=" not in body and " on" + "click" not in body


async def test_static_files_have_their_types_and_headers(http: aiohttp.ClientSession) -> None:
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css"), ("i18n.js", "text/javascript")):
        async with http.get(f"/static/{name}", headers={"Accept-Encoding": "identity"}) as response:
            assert response.status == 200, name
            assert response.headers["Content-Type"] == f"{kind}; charset=utf-8"
            assert_security_headers(response.headers)
            body = await response.read()
        assert body == (STATIC / name).read_bytes().replace(b"__V__", page.VERSION.encode())


async def test_only_the_allow_list_is_served(http: aiohttp.ClientSession) -> None:
    for path in (
        "/static/nothing.js",
        "/static/index.html",  # the page has one address: /
        "/static/..%2Fweb.py",
        "/static/%2e%2e%2fapp.py",
        "/static/APP.JS",
        "/static/app.js%00",
        "/static/",
        "/index.html",
        "/static/../node/web.py",
    ):
        async with http.get(path) as response:
            assert response.status == 404, path
            assert_error_shape(response.status, await response.json())


async def test_repeat_loads_are_cheap(http: aiohttp.ClientSession) -> None:
    async with http.get(f"/static/app.js?v={page.VERSION}", headers={"Accept-Encoding": "identity"}) as response:
        etag = response.headers["ETag"]
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    async with http.get("/static/app.js?v=old", headers={"Accept-Encoding": "identity"}) as response:
        assert response.headers["Cache-Control"] == "no-cache"  # a stale version is revalidated
    async with http.get("/static/app.js", headers={"If-None-Match": etag, "Accept-Encoding": "identity"}) as response:
        assert response.status == 304
        assert await response.read() == b""
        assert response.headers["ETag"] == etag
    async with http.get("/", headers={"Accept-Encoding": "identity"}) as response:
        page_etag = response.headers["ETag"]
    async with http.get("/", headers={"If-None-Match": f'W/"x", {page_etag}', "Accept-Encoding": "identity"}) as r:
        assert r.status == 304
        assert_security_headers(r.headers)
    async with http.get("/", headers={"If-None-Match": '"something-else"', "Accept-Encoding": "identity"}) as r:
        assert r.status == 200


async def test_gzip_when_the_browser_accepts_it(http: aiohttp.ClientSession) -> None:
    async with http.get("/static/i18n.js", headers={"Accept-Encoding": "gzip, deflate"}) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in response.headers["Vary"]
        packed = await response.read()
        gz_etag = response.headers["ETag"]
    plain = (STATIC / "i18n.js").read_bytes().replace(b"__V__", page.VERSION.encode())
    assert gzip.decompress(packed) == plain
    assert len(packed) < len(plain) / 2
    async with http.get("/static/i18n.js", headers={"Accept-Encoding": "identity"}) as response:
        assert "Content-Encoding" not in response.headers
        assert response.headers["ETag"] != gz_etag  # the two forms never share a validator


def test_every_file_the_page_refers_to_is_served() -> None:
    served = set(page.FILES)
    on_disk = {p.name for p in STATIC.iterdir()}
    assert on_disk == served, "node/static and the allow-list in node/web.py differ"
    for name in page.FILES:
        text = (STATIC / name).read_text()
        refs = re.findall(r"""(?:from |import\(|href=|src=)["'](?:\./|/static/)([\w.-]+?)(?:\?v=__V__)?["']""", text)
        for ref in refs:
            assert ref in served, f"{name} refers to {ref}, which is not served"
        for ref in re.findall(r"""["'](?:\./|/static/)([\w-]+\.(?:js|css))""", text):
            assert f"{ref}?v=__V__" in text, f"{name} refers to {ref} without the version placeholder"


def test_no_module_builds_markup_from_strings() -> None:
    for path in STATIC.glob("*.js"):
        text = path.read_text()
        for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert risky not in text, f"{path.name} uses {risky}"


def _table(text: str, name: str) -> dict[str, str]:
    body = re.search(rf"^const {name} = \{{\n(.*?)^\}};", text, re.S | re.M)
    assert body, name
    return dict(re.findall(r'^  "?([\w.]+)"?: "((?:[^"\\]|\\.)*)",$', body.group(1), re.M))


def test_both_languages_have_every_string() -> None:
    source = (STATIC / "i18n.js").read_text()
    en, es = _table(source, "en"), _table(source, "es")
    assert len(en) > 150
    assert set(en) == set(es), f"only in en: {set(en) - set(es)}; only in es: {set(es) - set(en)}"
    untranslated = [k for k in en if en[k] == es[k] and k not in {"flag.spam"}]
    assert untranslated == [], untranslated
    assert es["report.fewer"] == "menos de 5" and en["report.fewer"] == "fewer than 5"
    used: set[str] = set()
    for path in STATIC.glob("*.js"):
        used |= set(re.findall(r'\bt\("([\w.]+)"', path.read_text()))
    assert used - set(en) == set(), f"keys used but not translated: {used - set(en)}"
