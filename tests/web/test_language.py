# The page in the member's language, in a real Chromium against a real node:
# errors from the node are told by their code in Spanish, with the node's
# English message only as a detail (on the field it names, when it names
# one), a 429 says once when to try again; counted phrases take their plural form;
# the text shown before the modules run is in both languages; and a hash with
# a malformed % escape shows the "no such page" view instead of breaking.

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests._nodes import start, stop
from tests.web._flows import search
from tests.web.conftest import Node, open_page

pytestmark = pytest.mark.slow


def test_errors_from_the_node_are_told_in_spanish(browser: Browser, node_a: Node) -> None:
    visit = open_page(browser, locale="es-ES")
    page = visit.page
    page.goto(f"{node_a.url}/#/post")
    page.get_by_label("Título").fill("Parece \u202etexto\u202c raro")
    page.get_by_label("Zona", exact=True).select_option("u4pr")
    page.get_by_role("button", name="Publicar", exact=True).click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    text = alert.text_content() or ""
    assert text.startswith("No se aceptó la publicación. Revisa lo que escribiste."), text
    detail = alert.locator(".detail")
    assert (detail.text_content() or "").startswith("El nodo dijo:")
    assert "control character" in (detail.locator("span[lang=en]").text_content() or "")  # the node's own words
    # The node named the field at fault: the message is on it.
    title = page.get_by_label("Título")
    assert title.get_attribute("aria-invalid") == "true"
    assert alert.get_attribute("id") in (title.get_attribute("aria-describedby") or "").split()
    assert search(node_a.url, q="raro") == []

    page.goto(f"{node_a.url}/#/r/{'0' * 64}")
    page.get_by_role("heading", name="Esta publicación no está aquí").wait_for()
    assert (page.get_by_role("alert").text_content() or "").startswith("No se encontró aquí.")

    page.goto(f"{node_a.url}/#/manage/{'0' * 64}/some-token-aaaaaaaaaaaaaaaaaaaa")
    page.get_by_text("No se encontró esta publicación.").wait_for()
    assert page.get_by_text("That did not work").count() == 0
    assert visit.errors == []
    page.context.close()


def test_plural_forms_and_the_text_before_the_modules_run(browser: Browser, node_a: Node) -> None:
    visit = open_page(browser, locale="es-ES")
    page = visit.page
    page.goto(f"{node_a.url}/")
    page.get_by_role("heading", name="Necesidades y ofertas cerca de ti").wait_for()
    i18n = page.locator("link[rel=modulepreload][href*='i18n.js']").get_attribute("href")
    counted = page.evaluate(
        """async (url) => {
            const m = await import(url);
            await import(url.replace("i18n.js", "i18n-views.js"));  // the organizers' and report's strings
            const out = {};
            for (const lang of ["es", "en"]) {
              m.setLang(lang);
              const days = [0, 1, 3].map((n) => m.tn("org.daysOpen", n));
              out[lang] = days.concat([m.tn("report.days", 1), m.tn("report.days", 2.5)]);
            }
            return out;
        }""",
        i18n,
    )
    assert counted["es"] == [
        "abierta hoy, sin respuesta",
        "abierta hace 1 día, sin respuesta",
        "abierta hace 3 días, sin respuesta",
        "1 día",
        "2,5 días",
    ]
    assert counted["en"] == [
        "opened today, no reply yet",
        "open 1 day, no reply yet",
        "open 3 days, no reply yet",
        "1 day",
        "2.5 days",
    ]
    raw = page.evaluate("fetch('/').then((r) => r.text())")
    assert re.search(r'<span lang="en">Loading…</span>.*<span lang="es">Cargando…</span>', raw)
    assert 'lang="es">Esta página necesita JavaScript' in raw and 'lang="en">This page needs JavaScript' in raw
    assert visit.errors == []
    page.context.close()


def test_a_malformed_escape_in_the_address_shows_the_missing_page(browser: Browser, node_a: Node) -> None:
    visit = open_page(browser)
    page = visit.page
    page.goto(f"{node_a.url}/")
    page.get_by_role("heading", name="Needs and offers near you").wait_for()
    for hash_ in ("#/r/%E0%A4%A", "#/manage/%zz/%", "#/%"):
        page.evaluate("(h) => { location.hash = h; }", hash_)
        page.get_by_role("heading", name="This page does not exist").wait_for()
        page.goto(f"{node_a.url}/")
        page.get_by_role("heading", name="Needs and offers near you").wait_for()
    app = page.locator("script[type=module]").get_attribute("src")
    route = page.evaluate("async (url) => (await import(url)).parseRoute('#/r/%E0%A4%A')", app)
    assert route == {"view": "missing"}
    assert visit.errors == [], visit.errors
    page.context.close()


def test_too_many_writes_is_told_in_spanish_with_when_to_try_again(browser: Browser, tmp_path: Path) -> None:
    data = tmp_path / "limited"
    data.mkdir()
    (data / "config.toml").write_text(
        'name = "Strict"\nareas = ["u4pr"]\nmember_write_burst = 1\nmember_write_every_s = 600\n'
        "member_write_limit_loopback = true\n"
    )
    process, url = start(data)
    try:
        visit = open_page(browser, locale="es-ES")
        page = visit.page
        page.goto(f"{url}/#/post")
        page.get_by_label("Título").fill("Primera")
        page.get_by_role("button", name="Publicar", exact=True).click()
        page.locator(".manage-link").wait_for()
        page.goto(f"{url}/#/")
        page.goto(f"{url}/#/post")
        page.get_by_label("Título").fill("Segunda")
        page.get_by_role("button", name="Publicar", exact=True).click()
        alert = page.get_by_role("alert")
        alert.wait_for()
        text = alert.text_content() or ""
        assert text.startswith("Demasiados cambios desde aquí en poco tiempo."), text
        assert re.search(r"Puedes volver a intentarlo en \d+ segundos\.", text), text
        assert text.count("intentarlo") == 1, text  # said once: when, not also "wait and try again"
        assert [r["title"] for r in search(url, q="primera")] == ["Primera"] and search(url, q="segunda") == []
        assert visit.errors == []
        page.context.close()
    finally:
        assert stop(process) == 0
