"""The field table (protocol/fieldtable.py, the rows in protocol/records.py):
each type's check accepts exactly what its JSON Schema accepts, the docs'
field tables are the table's, and every record the limits admit fits."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import NodeIdentity
from protocol.errors import RecordInvalid
from protocol.fields import IPV6, compiled
from protocol.fieldtable import Choice, Geohash, Language, ListOf, Slug, Text, Type, Url, markdown_table
from protocol.records import COMMON_FIELDS, FIELDS, KINDS, MAX_RECORD_BYTES, build_record

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "PROTOCOL.md"

# Characters that sit on the rules' edges: controls, separators, bidi
# overrides, white space of every kind, invisible ones, astral characters.
EDGES = (
    "\x00\t\n\x0b\r\x1f \x7f\x85\x9f\xa0\xad\u1680\u2000\u200a\u200b\u200d"
    "\u2028\u2029\u202a\u202e\u202f\u205f\u2060\u2066\u2069\u3000\ufeff"
)
CHARS = st.one_of(st.sampled_from(EDGES), st.characters(codec="utf-8"), st.sampled_from("abz09-_.:/[]é😀"))


def texts(max_size: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(CHARS, max_size=max_size + 2),
        st.text(CHARS, min_size=max(0, max_size - 2), max_size=max_size + 2),
    )


def accepts(kind: Type, value: Any) -> bool:
    try:
        kind.check("field", value)
    except RecordInvalid:
        return False
    return True


def values_for(kind: Type) -> st.SearchStrategy[Any]:
    if isinstance(kind, ListOf):
        return st.one_of(st.lists(values_for(kind.item), max_size=kind.max_items + 2), st.text(max_size=3), st.none())
    if isinstance(kind, Text):
        return st.one_of(texts(kind.max_chars), st.integers(), st.none())
    if isinstance(kind, Choice):
        return st.one_of(st.sampled_from(kind.values), st.text(CHARS, max_size=8))
    if isinstance(kind, Url):
        pieces = st.sampled_from(["http://", "https://", "ftp://", "a", "b-c", ".", ":", "8440", "/", "[", "::1", "]"])
        return st.one_of(st.lists(pieces, max_size=12).map("".join), texts(210))
    pieces = st.sampled_from(["a", "z", "0", "9", "-", "u4pru", "pt", "br", "-x", "A", "é", "\n", " "])
    return st.one_of(st.lists(pieces, max_size=10).map("".join), st.text(CHARS, max_size=40), st.integers())


MEMBER_TYPES = [
    Text(120),
    Text(40),
    Text(2000, multiline=True),
    Text(280, multiline=True),
    Slug(),
    Geohash(),
    Language(),
    Url(),
    Choice(("low", "normal", "high", "urgent")),
    ListOf(Slug(), 10),
    ListOf(Language(), 8),
    ListOf(Geohash(), 32),
]


@pytest.mark.parametrize("kind", MEMBER_TYPES, ids=repr)
@settings(max_examples=250, deadline=None)
@given(data=st.data())
def test_a_check_and_its_json_schema_accept_the_same_values(kind: Type, data: st.DataObject) -> None:
    validator = jsonschema_rs.validator_for(kind.json_schema())
    value = data.draw(values_for(kind))
    assert accepts(kind, value) == validator.is_valid(value), (value, kind.json_schema())


def test_the_edges_of_text() -> None:
    line, lines = Text(5), Text(5, multiline=True)
    for value, one_line, several in [
        ("ok", True, True),
        ("", False, False),
        ("  \u200b\u00ad", False, False),
        ("a\nb", False, True),
        ("a\tb", False, True),
        ("ab\n", False, True),
        ("a\u202eb", False, False),
        ("a\x85", False, False),
        ("😀" * 5, True, True),
        ("😀" * 6, False, False),
    ]:
        assert accepts(line, value) is one_line, value
        assert accepts(lines, value) is several, value
        schema_line = jsonschema_rs.validator_for(line.json_schema())
        assert schema_line.is_valid(value) is one_line, value


def section(text: str, kind: str) -> str:
    match = re.search(rf"<!-- fields:{kind} -->\n(.*?)\n<!-- /fields -->", text, re.S)
    assert match, f"docs/PROTOCOL.md has no generated table for {kind}"
    return match.group(1)


def expected_docs() -> dict[str, str]:
    tables = {"common": markdown_table([r for r in FIELDS if r.name in COMMON_FIELDS], KINDS[0])}
    for kind in KINDS:
        tables[kind] = markdown_table(FIELDS, kind, common=COMMON_FIELDS)
    return tables


def test_the_protocol_documents_field_tables_are_the_tables_in_the_code() -> None:
    text = PROTOCOL.read_text()
    for kind, table in expected_docs().items():
        assert section(text, kind) == table, (
            f"docs/PROTOCOL.md's {kind} table differs from protocol/records.py FIELDS; "
            "rewrite it with: .venv/bin/python -m tests.protocol.test_fieldtable"
        )


def test_a_need_at_every_limit_in_the_widest_script_fits_a_record() -> None:
    wide = "😀"
    body = {
        "kind": "need",
        "slot": "s" * 64,
        "created_at": 2**39,
        "expires_at": 2**39 + 90 * 86_400,
        "status": "withdrawn",
        "title": wide * 120,
        "category": "c" * 32,
        "area": "u4pru",
        "details": wide * 2000,
        "tags": [f"{i}" + "t" * 31 for i in range(10)],
        "quantity": wide * 40,
        "urgency": "urgent",
        "needed_by": 2**40 - 1,
        "languages": [f"ab{chr(97 + i)}-abcdefgh-abcdefgh" for i in range(8)],
        "give_back": wide * 280,
    }
    record = build_record(NodeIdentity.generate(), body)
    assert len(record.raw) <= MAX_RECORD_BYTES


@pytest.mark.parametrize("ranked", [True, False], ids=["ranked text", "a change with its effect"])
def test_a_decision_at_every_limit_in_the_widest_script_fits_a_record(ranked: bool) -> None:
    wide = "😀"
    body: dict[str, Any] = {
        "kind": "decision",
        "slot": str(2**31 - 1),
        "created_at": 2**39,
        "expires_at": 2**39 + 3650 * 86_400,
        "seq": 2**31 - 1,
        "prev": bytes(32),
        "proposal": "p" * 64,
        "title": wide * 120,
        "text": wide * 2000,
        "type": "text" if ranked else "categories",
        "method": "ranked" if ranked else "choice",
        "threshold": "two_thirds",
        "ballot": "secret",
        "quorum": 100,
        "outcome": "no_quorum",
        "counts": {f"option-{i}" + "o" * 20: 10**9 for i in range(11)},
        "electorate": 10**9,
        "turnout": 10**9,
        "receipts": bytes(32),
        "opened_at": 2**39 - 1,
        "closed_at": 2**39,
    }
    if ranked:
        body |= {"options": [f"{i}" + wide * 79 for i in range(10)], "winner": 10}
    else:
        body["effect"] = {f"k{i}" + "e" * 30: wide * 200 for i in range(6)}
    record = build_record(NodeIdentity.generate(), body)
    assert len(record.raw) <= MAX_RECORD_BYTES


def main() -> None:
    """Rewrite docs/PROTOCOL.md's generated field tables from the code."""
    text = PROTOCOL.read_text()
    for kind, table in expected_docs().items():
        start, end = f"<!-- fields:{kind} -->\n", "<!-- /fields -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        text = f"{head}{start}{table}\n{end}{tail}"
    PROTOCOL.write_text(text)


if __name__ == "__main__":
    main()


@settings(max_examples=200, deadline=None)
@given(st.from_regex(compiled(f"^({IPV6})$"), fullmatch=True))
def test_every_ipv6_the_url_rule_takes_is_an_address(text: str) -> None:
    ipaddress.IPv6Address(text)  # a URL the node accepts never fails later on its host
