# node/members/web.py over real HTTP (a real node process on 127.0.0.1, no browser): the
# page's security headers, the allow-list, caching (ETag, 304, a year for
# versioned URLs), gzip, the node's data in the page (what it holds, its
# escaping, an ETag that follows it); and checks over the page's sources:
# every module and stylesheet the page refers to is served, no source builds
# markup from strings, no source keeps a copy of a limit, a pattern or the
# category list, and the English and Spanish tables have the same keys and
# cover every key the modules use (the first load's own in i18n.js).

from __future__ import annotations

import gzip
import http.client
import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from crypto import NodeIdentity
from node.chapter.categories import Categories, Category
from node.chapter.settings import ChapterBox, ChapterState
from node.chapter.state import CHAPTER
from node.core.config import NodeConfig
from node.core.errors import Code
from node.core.state import CONFIG, IDENTITY
from node.members import web as page
from node.members.pagedata import page_data
from tests.node._support import assert_error_shape
from tests.web.conftest import Node

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
STATIC = Path(page.__file__).resolve().parent / "static"


@dataclass
class Got:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@pytest.fixture
def get(node_a: Node) -> Iterator[Callable[..., Got]]:
    """GET from a real node process, with exactly the headers given (no
    automatic decompression): these tests run beside the session's browser,
    whose event loop rules out an asyncio client in this process."""
    port = urllib.parse.urlsplit(node_a.url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def fetch(path: str, **headers: str) -> Got:
        conn.request("GET", path, headers={"Accept-Encoding": "identity", **headers})
        response = conn.getresponse()
        return Got(response.status, response.msg, response.read())

    try:
        yield fetch
    finally:
        conn.close()


def assert_security_headers(headers: http.client.HTTPMessage) -> None:
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"


def test_the_page_is_served_with_its_security_headers(get: Callable[..., Got]) -> None:
    got = get("/")
    assert got.status == 200
    assert got.headers["Content-Type"] == "text/html; charset=utf-8"
    assert got.headers["Cache-Control"] == "no-cache"
    assert_security_headers(got.headers)
    body = got.body.decode()
    assert '<script type="module" src="/static/app.js?v=' + page.VERSION + '"></script>' in body
    assert "__V__" not in body and "__NODE_DATA__" not in body
    # No inline script or style anywhere: the CSP would block it, and it must not be needed.
    # The one script element without a src is the node's data: JSON, which never runs.
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", body)
    assert inline == ['<script type="application/json" id="node-data">']
    assert "<style" not in body and "style=" not in body and " on" + "click" not in body


def node_data(body: bytes) -> Any:
    found = re.search(rb'<script type="application/json" id="node-data">(.*?)</script>', body, re.S)
    assert found
    return json.loads(found.group(1))


def test_the_page_carries_the_nodes_data(get: Callable[..., Got], node_a: Node) -> None:
    data = node_data(get("/").body)
    identity = NodeIdentity.load(node_a.data / "identity.key")
    config = NodeConfig(name="Riverside pantry", areas=("u4pr", "u4ps"))
    assert data == page_data(config, identity, ChapterState())
    about = json.loads(get("/api/v1/node").body)  # what other clients read says the same
    assert (data["name"], data["key"], data["areas"]) == (about["name"], about["key"], about["areas"])
    assert data["categories"] == about["categories"]
    assert data["report"] == {"default_weeks": 13, "max_weeks": 52}
    assert data["forms"]["answer"]["note"]["maxLength"] == 500
    assert data["forms"]["event"]["what"]["enum"][:2] == ["meeting", "assembly"]
    assert data["recurrence"]["frequencies"] == ["DAILY", "WEEKLY", "MONTHLY"]
    assert data["note_days"] == 90
    assert data["forms"]["need"]["title"] == {
        "maxLength": 120,
        "minLength": 1,
        "pattern": data["forms"]["need"]["title"]["pattern"],
        "required": True,
    }
    assert data["forms"]["reply"]["contact"]["maxLength"] == 500  # the text branch of "text or empty"
    assert data["forms"]["need"]["languages"]["maxItems"] == 8
    assert data["urgencies"] == ["low", "normal", "high", "urgent"]
    assert data["final_statuses"] == ["fulfilled", "withdrawn"]


def _page_of(name: str, categories: Categories | None = None) -> page.Asset:
    app = web.Application()
    app[CONFIG] = NodeConfig(name=name, areas=("u4pr",))
    app[IDENTITY] = NodeIdentity.from_seed(bytes(32))
    app[CHAPTER] = ChapterBox(ChapterState(categories or Categories()))
    page.install_page(app)
    asset = app[page.PAGE_ASSET].asset
    assert asset is not None
    return asset


def test_the_pages_etag_follows_its_data_and_member_text_cannot_end_the_element() -> None:
    one, same = _page_of("Riverside"), _page_of("Riverside")
    assert one.etag == same.etag and one.body == same.body
    assert _page_of("Hillside").etag != one.etag
    more = Categories([*Categories().items, Category("seeds", {"en": "Seeds", "es": "Semillas"})])
    assert _page_of("Riverside", more).etag != one.etag
    hostile = "</script><script>alert(1)</script><!-- & -->"
    served = _page_of(hostile)
    data = re.search(rb'id="node-data">(.*?)</script>', served.body, re.S)
    assert data and b"<" not in data.group(1) and b">" not in data.group(1) and b"&" not in data.group(1)
    assert json.loads(data.group(1))["name"] == hostile
    assert served.body.count(b"<script") == 2  # the data block and the module, nothing more
    assert served.gzipped is not None and gzip.decompress(served.gzipped) == served.body


def test_static_files_have_their_types_and_headers(get: Callable[..., Got]) -> None:
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css"), ("i18n.js", "text/javascript")):
        got = get(f"/static/{name}")
        assert got.status == 200, name
        assert got.headers["Content-Type"] == f"{kind}; charset=utf-8"
        assert_security_headers(got.headers)
        assert got.body == (STATIC / name).read_bytes().replace(b"__V__", page.VERSION.encode())


def test_only_the_allow_list_is_served(get: Callable[..., Got]) -> None:
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
        got = get(path)
        assert got.status == 404, path
        assert_error_shape(got.status, json.loads(got.body))


def test_repeat_loads_are_cheap(get: Callable[..., Got]) -> None:
    fresh = get(f"/static/app.js?v={page.VERSION}")
    etag = fresh.headers["ETag"]
    assert fresh.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert get("/static/app.js?v=old").headers["Cache-Control"] == "no-cache"  # a stale version is revalidated
    again = get("/static/app.js", **{"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    assert again.headers["ETag"] == etag
    page_etag = get("/").headers["ETag"]
    revalidated = get("/", **{"If-None-Match": f'W/"x", {page_etag}'})
    assert revalidated.status == 304
    assert_security_headers(revalidated.headers)
    assert get("/", **{"If-None-Match": '"something-else"'}).status == 200


def test_gzip_when_the_browser_accepts_it(get: Callable[..., Got]) -> None:
    packed = get("/static/i18n.js", **{"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    plain = (STATIC / "i18n.js").read_bytes().replace(b"__V__", page.VERSION.encode())
    assert gzip.decompress(packed.body) == plain
    assert len(packed.body) < len(plain) / 2
    identity = get("/static/i18n.js")
    assert identity.headers["Content-Encoding"] is None and identity.body == plain
    assert identity.headers["ETag"] != packed.headers["ETag"]  # the two forms never share a validator


def test_every_file_the_page_refers_to_is_served() -> None:
    served = set(page.FILES)
    on_disk = {p.name for p in STATIC.iterdir()}
    assert on_disk == served, "node/members/static and the allow-list in node/members/web.py differ"
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
    return dict(re.findall(r'^  "?([\w.-]+)"?: "((?:[^"\\]|\\.)*)",$', body.group(1), re.M))


TABLES = ("i18n.js", "i18n-views.js", "i18n-chapter.js", "i18n-massline.js")
"""The strings of every page and the first view, those of the later views, the chapter's views' and the mass line's."""
STRING_MODULES = {"i18n-views.js", "i18n-chapter.js", "i18n-massline.js"}
"""What a later view imports for its strings (one or both)."""


def _tables() -> tuple[dict[str, str], dict[str, str]]:
    en: dict[str, str] = {}
    es: dict[str, str] = {}
    for name in TABLES:
        source = (STATIC / name).read_text()
        one_en, one_es = _table(source, "en"), _table(source, "es")
        assert set(one_en) == set(one_es), name
        assert not (set(one_en) & set(en)), f"{name} repeats keys: {set(one_en) & set(en)}"
        en |= one_en
        es |= one_es
    return en, es


def _used(path: Path) -> set[str]:
    """The keys a module names: t("key"), and tn("key")'s other form."""
    text = path.read_text()
    return set(re.findall(r'\bt\("([\w.]+)"', text)) | {f"{k}.other" for k in re.findall(r'\btn\("([\w.]+)"', text)}


def test_the_first_views_strings_come_with_the_first_load() -> None:
    """What the first load's modules show is in i18n.js (i18n-views.js comes only with the later views)."""
    first = _table((STATIC / "i18n.js").read_text(), "en")
    modules = {"app.js", "dom.js", "api.js", "browse.js"}
    for name in modules:
        text = (STATIC / name).read_text()
        assert "i18n-views.js" not in text, name
        assert _used(STATIC / name) - set(first) == set(), name
        for prefix in re.findall(r"\btn?\(`([\w.]+)\.\$\{", text):  # t(`status.${s}`): every such key
            assert any(key.startswith(f"{prefix}.") for key in first), (name, prefix)
    later = {p.name for p in STATIC.glob("*.js")} - modules - STRING_MODULES - {"i18n.js", "charts.js", "forms.js"}
    for name in later:  # every later view brings its strings
        text = (STATIC / name).read_text()
        assert any(f'import "./{table}?v=__V__";' in text for table in STRING_MODULES), name


def test_both_languages_have_every_string() -> None:
    en, es = _tables()
    assert len(en) > 150
    assert set(en) == set(es), f"only in en: {set(en) - set(es)}; only in es: {set(es) - set(en)}"
    untranslated = [k for k in en if en[k] == es[k] and k not in {"flag.spam", "area.label"}]
    assert untranslated == [], untranslated
    assert es["report.fewer"] == "menos de 5" and en["report.fewer"] == "fewer than 5"
    used: set[str] = set()
    for path in STATIC.glob("*.js"):
        used |= set(re.findall(r'\bt\("([\w.]+)"', path.read_text()))
    assert used - set(en) == set(), f"keys used but not translated: {used - set(en)}"
    # Placeholders match: a sentence never names a value the other language leaves out.
    for key in en:
        assert set(re.findall(r"\{(\w+)\}", en[key])) == set(re.findall(r"\{(\w+)\}", es[key])), key


PAGE_ONLY_ERRORS = {"network", "unknown", "detail", "http_error"}
"""Sentences the page itself uses (no connection, no code, the node's own words, a bare HTTP error)."""


CHAPTER_ENDPOINTS = re.compile(r"""["'`]/(?:members|proposals|invites|organizer)\b""")
"""What a module calls when a chapter's error can come back."""
MASS_LINE_ENDPOINTS = re.compile(r"""["'`]/(?:findings|events)\b|/answers`|/attend`""")
"""What a module calls when a mass line's error (a finding's, an answer's, an event's) can come back."""


def test_every_error_code_in_the_registry_has_a_sentence_in_both_languages() -> None:
    # Errors can happen on any view, so the first load has every sentence,
    # except those only the chapter's endpoints answer: those come with the
    # chapter's strings, which every module calling those endpoints imports.
    en: dict[str, str] = {}
    es: dict[str, str] = {}
    for name in ("i18n.js", "i18n-chapter.js", "i18n-massline.js"):
        source = (STATIC / name).read_text()
        en |= {k: v for k, v in _table(source, "en").items() if k.startswith("error.")}
        es |= {k: v for k, v in _table(source, "es").items() if k.startswith("error.")}
    for path in STATIC.glob("*.js"):
        if CHAPTER_ENDPOINTS.search(path.read_text()):
            text = path.read_text()
            assert 'import "./i18n-chapter.js?v=__V__";' in text or "./chapter.js?v=__V__" in text, path.name
        if MASS_LINE_ENDPOINTS.search(path.read_text()):
            assert 'import "./i18n-massline.js?v=__V__";' in path.read_text(), path.name
    codes = {member.code for member in Code}
    missing = sorted(c for c in codes if f"error.{c}" not in en or f"error.{c}" not in es)
    assert missing == [], f"error codes without a sentence: {missing}"
    sentences = {key.split(".")[1] for key in [*en, *es] if key.startswith("error.")}
    stale = sorted(sentences - codes - PAGE_ONLY_ERRORS - {"retryIn"})
    assert stale == [], f"sentences for codes the node never answers: {stale}"


def test_every_counted_phrase_has_its_plural_forms() -> None:
    en, es = _tables()
    counted: set[str] = set()
    for path in STATIC.glob("*.js"):
        counted |= set(re.findall(r'\btn\("([\w.]+)"', path.read_text()))
    assert {"org.daysOpen", "report.days"} <= counted
    for key in counted:
        for table in (en, es):
            assert f"{key}.one" in table and f"{key}.other" in table, key
            assert "{count}" in table[f"{key}.other"], key


def test_no_source_keeps_a_copy_of_what_the_node_declares() -> None:
    """Limits, patterns, lists and category names come from the node's data
    (node/members/pagedata.py): no module or stylesheet types them again."""
    slugs = Categories().slugs
    for path in STATIC.iterdir():
        text = path.read_text()
        name = path.name
        assert not re.search(r"maxlength[\"']?\s*[:=]\s*[\"']?\d", text, re.I), f"{name} types a maxlength"
        assert not re.search(r"\b(?:maxLength|minItems|maxItems|minimum|maximum)\s*[:=]\s*\d", text), (
            f"{name} types a limit"
        )
        assert "0-9b-hjkmnp-z" not in text and "0123456789bcdefghjkmnpqrstuvwxyz" not in text, f"{name}: area pattern"
        assert "[a-z]{2,3}" not in text, f"{name} types the language pattern"
        assert not re.search(r"\bCATEGORIES\b", text), f"{name} has a category list"
        assert not re.search(r"[\"']category\.\w+[\"']\s*:", text), f"{name} names a category"
        quoted = set(re.findall(r"[\"'](\w+)[\"']", text))
        listed = [slug for slug in slugs if slug in quoted and slug != "other"]
        assert len(listed) <= 1, f"{name} lists categories: {listed}"
        for choices in (("low", "normal", "high", "urgent"), ("spam", "abuse", "personal_info")):
            assert not all(f'"{c}"' in text for c in choices), f"{name} lists {choices}"
        assert not re.search(r"\[\s*4\s*,\s*8\s*,\s*13\s*\]", text), f"{name} lists the report's periods"
        assert not re.search(r"expires_in_days:\s*\d", text), f"{name} types how long a post stays up"
        assert not re.search(r'"open",\s*"claimed",\s*"fulfilled"', text), f"{name} lists the statuses"
        # The chapter's lists: proposal types, ballot choices, thresholds, ballots (NODE.chapter, NODE.forms).
        for listed_in_order in (r'"text",\s*"categories"', r'"agree",\s*"abstain"', r'"majority",\s*"two_thirds"',
                                r'"secret",\s*"open"', r'"invite_quota",\s*"invite_days"'):  # fmt: skip
            assert not re.search(listed_in_order, text), f"{name} lists what NODE.chapter holds: {listed_in_order}"
