"""Bundles through the command line (issue 12, offline carry): ``mutualaid bundle export``
from a real node holding records of every kind it makes (needs and offers in two areas,
a sealed reply, a finding, an event, a chain of two decisions, its profile), ``mutualaid
bundle import`` into empty nodes, stopped (``--data-dir``) and running (``--node``).
Records arrive byte for byte; a second import is all duplicates; the filters keep what
they say; a damaged, cut, padded, empty, foreign or oversized file is refused with
its reason and stores nothing; and a bundle signed by a node never met, carrying
records peering would refuse, has each of those refused with its reason."""

from __future__ import annotations

import json
import os
import struct
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest

from crypto import NodeIdentity, RecoveryKey, public_key_to_text
from node.core.datadir import ADMIN_TOKEN_FILE
from protocol.bundle import MAX_BUNDLE_BYTES, decode_bundle, encode_bundle
from protocol.records import (
    DEFAULT_TTL,
    MAX_ROTATION_TTL,
    NODE_PROFILE_SLOT,
    Record,
    build_record,
    parse_record,
    rotation_consent,
)
from protocol.rotation import resign
from tests.node._cli import HANG_GUARD_S, RUN_FLAGS, Running, cli, cli_env, http, init, run_node
from tests.node._support import assert_error_shape, sql_rows
from tests.node.test_cli_chapter import as_json, chapter, decision, ok, propose_id

# --- a source node with a record of every kind, and its bundle -----------------------------------------------


@dataclass(frozen=True)
class Source:
    data_dir: Path
    env: dict[str, str]
    key: str
    bundle: Path
    """Exported through the running node (--node)."""
    stopped: Path
    """Exported from its data directory once stopped (--data-dir)."""
    ids: dict[str, str]


def _post(env: dict[str, str], url: str, kind: str, title: str, area: str) -> str:
    out = ok(cli(env, "post", kind, "--title", title, "--category", "food", "--area", area, "--node", url))
    return out.split()[2]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    tmp = tmp_path_factory.mktemp("source")
    env = cli_env(tmp)
    data_dir = tmp / "node"
    made = init(env, data_dir, "--area", "gcpv")  # serves u4pr and gcpv
    with run_node(env, tmp / "node.log", "--data-dir", str(data_dir), *RUN_FLAGS) as node:
        running = Running(node, env, made["public_key"], made["key"], data_dir)
        ids = {
            "need": _post(env, node.url, "need", "Lentils for the shelter", "u4pru"),
            "offer": _post(env, node.url, "offer", "A ladder to lend", "gcpvj"),
            "far need": _post(env, node.url, "need", "Blankets", "gcpvj"),
        }
        ok(cli(env, "reply", ids["need"], "--message", "I have some", "--contact", "at the market", "--node",
               node.url))  # fmt: skip
        operator = ("--data-dir", str(data_dir), "--node", node.url)
        ok(cli(env, "findings", "add", "--title", "Food", "--text", "Food needs outrun offers.", *operator))
        start = (date.today() + timedelta(days=3)).isoformat() + "T18:00"
        ok(cli(env, "events", "add", "--title", "Assembly", "--starts", start, "--tz", "UTC", *operator))
        (solo,) = chapter(running, "Solo").values()
        for title in ("Meet on Sundays", "Meet at the library"):
            ok(cli(solo, "vote", propose_id(solo, "--type", "text", "--title", title)[:12], "agree"))
            decision(solo, title)
        bundle = tmp / "node.bundle"
        done = as_json(env, "bundle", "export", str(bundle), "--data-dir", str(data_dir), "--node", node.url)
        assert done["exporter_key"] == made["key"] and done["records"] == len(
            decode_bundle(bundle.read_bytes()).records
        )
        busy = cli(env, "bundle", "export", str(tmp / "x.bundle"), "--data-dir", str(data_dir))
        assert busy.returncode == 2 and "in use by a running node" in busy.stderr and "--node" in busy.stderr
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()
    stopped = tmp / "stopped.bundle"
    printed = ok(cli(env, "bundle", "export", str(stopped), "--data-dir", str(data_dir)))
    assert printed.startswith("exported ") and made["key"] in printed
    return Source(data_dir, env, made["key"], bundle, stopped, ids)


def records_of(path: Path) -> list[Record]:
    return [parse_record(raw) for raw in decode_bundle(path.read_bytes()).records]


def held(data_dir: Path) -> set[bytes]:
    """The raw bytes of every record a node's database holds."""
    if not (data_dir / "records.db").exists():
        return set()
    return {bytes(row[0]) for row in sql_rows(data_dir / "records.db", "SELECT raw FROM records")}


def empty_node(tmp_path: Path, name: str, *areas: str) -> tuple[dict[str, str], Path]:
    env = cli_env(tmp_path / name)
    data_dir = tmp_path / name / "node"
    ok(cli(env, "init", "--data-dir", str(data_dir), *(a for area in areas for a in ("--area", area))))
    return env, data_dir


def test_the_bundle_holds_every_kind_and_the_same_records_either_way(source: Source) -> None:
    kinds = Counter(r.kind for r in records_of(source.bundle))
    assert kinds == {"node": 1, "need": 2, "offer": 1, "reply": 1, "finding": 1, "event": 1, "decision": 2}, kinds
    assert [r.kind for r in records_of(source.bundle)][:3] == ["node", "decision", "decision"]  # context first
    assert sorted(r.raw for r in records_of(source.stopped)) == sorted(r.raw for r in records_of(source.bundle))
    assert public_key_to_text(decode_bundle(source.bundle.read_bytes()).exporter) == source.key
    assert source.bundle.stat().st_mode & 0o777 == 0o600


def test_into_a_stopped_node_byte_for_byte_and_a_second_time_all_duplicate(source: Source, tmp_path: Path) -> None:
    env, data_dir = empty_node(tmp_path, "b")  # serves every area
    raws = decode_bundle(source.bundle.read_bytes()).records
    first = as_json(env, "bundle", "import", str(source.bundle), "--data-dir", str(data_dir))
    assert first["exporter_key"] == source.key and first["records"] == len(raws)
    assert (first["accepted"], first["duplicate"], first["rejected"]) == (len(raws), 0, {}), first
    assert held(data_dir) == set(raws)  # exactly the bytes the source holds, nothing else
    again = ok(cli(env, "bundle", "import", str(source.bundle), "--data-dir", str(data_dir)))
    assert f"{len(raws)} records: accepted 0, duplicate {len(raws)}, superseded 0, rejected 0" in again
    assert f"from node {source.key}" in again
    assert held(data_dir) == set(raws)
    with run_node(env, tmp_path / "b.log", "--data-dir", str(data_dir), *RUN_FLAGS) as b:
        status, body = http("GET", f"{b.url}/api/v1/records?kind=decision")
        assert status == 200 and sorted(r["seq"] for r in body["records"]) == [1, 2]
        status, body = http("GET", f"{b.url}/api/v1/records/{source.ids['need']}")
        assert status == 200 and body["title"] == "Lentils for the shelter"
        assert b.stop(HANG_GUARD_S) == 0, b.log_text()


def test_into_a_running_node_through_its_api(source: Source, tmp_path: Path) -> None:
    env, data_dir = empty_node(tmp_path, "c", "u4pr")  # serves u4pr only: the gcpv posts are not its
    raws = decode_bundle(source.bundle.read_bytes()).records
    outside = {r.raw for r in records_of(source.bundle) if str(r.get("area", "u4pr")).startswith("gcpv")}
    with run_node(env, tmp_path / "c.log", "--data-dir", str(data_dir), *RUN_FLAGS) as c:
        args = ("bundle", "import", str(source.bundle), "--data-dir", str(data_dir), "--node", c.url)
        first = as_json(env, *args)
        assert first["accepted"] == len(raws) - len(outside) and first["rejected"] == {"not_served": len(outside)}
        second = as_json(env, *args)
        assert second["duplicate"] == first["accepted"] and second["accepted"] == 0
        assert held(data_dir) >= set(raws) - outside and not held(data_dir) & outside
        status, body = http("GET", f"{c.url}/api/v1/records/{source.ids['need']}")
        assert status == 200, body
        metrics = urllib.request.urlopen(f"{c.url}/metrics", timeout=HANG_GUARD_S).read().decode()  # noqa: S310
        assert "mutualaid_bundles_imported_total 2" in metrics
        # And out again through its API: its own profile now first, signed by its own key.
        again = tmp_path / "c.bundle"
        ok(cli(env, "bundle", "export", str(again), "--data-dir", str(data_dir), "--node", c.url))
        assert set(raws) - outside <= {r.raw for r in records_of(again)}
        assert c.stop(HANG_GUARD_S) == 0, c.log_text()


def test_since_and_area_choose_the_records(source: Source, tmp_path: Path) -> None:
    def exported(*args: str) -> tuple[dict[str, Any], list[Record]]:
        out = tmp_path / "f.bundle"
        answer = as_json(source.env, "bundle", "export", str(out), "--data-dir", str(source.data_dir), *args)
        return answer, records_of(out)

    context = {"node", "decision"}
    answer, chosen = exported("--area", "gcpv")
    assert answer["area"] == "gcpv" and answer["since"] is None
    areas = {r.kind: r.get("area") for r in chosen if r.get("area") is not None}
    assert {r.get("area") for r in chosen if r.get("area")} == {"gcpvj"}, areas
    assert {r.kind for r in chosen} == context | {"need", "offer", "finding", "event"}  # the reply is in u4pru
    answer, chosen = exported("--since", "2199-12-31")
    assert {r.kind for r in chosen} == context
    assert answer["since"] == datetime(2199, 12, 31, tzinfo=UTC).timestamp()
    _, chosen = exported("--since", "2199-12-31T00:00:00+01:00")
    assert {r.kind for r in chosen} == context
    answer, chosen = exported("--since", "1d")
    assert len(chosen) == len(records_of(source.bundle)) and abs(answer["since"] - (time.time() - 86_400)) < 3600
    for bad in ("yesterday", "2026-02-30", "3651d", "1w"):
        refused = cli(source.env, "bundle", "export", str(tmp_path / "x"), "--since", bad, "--data-dir",
                      str(source.data_dir))  # fmt: skip
        assert refused.returncode == 2 and "--since" in refused.stderr and "Traceback" not in refused.stderr, bad
    refused = cli(source.env, "bundle", "export", str(tmp_path / "x"), "--area", "u4pruu", "--data-dir",
                  str(source.data_dir))  # fmt: skip
    assert refused.returncode == 2 and "not an area" in refused.stderr
    assert not (tmp_path / "x").exists()


# --- damaged files: refused with the reason, nothing stored --------------------------------------------------


def _flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ (1 << at % 8)]) + data[at + 1 :]


def test_damaged_cut_padded_and_foreign_files_are_refused_and_store_nothing(source: Source, tmp_path: Path) -> None:
    env, data_dir = empty_node(tmp_path, "d")
    data = source.bundle.read_bytes()
    signature = len(data) - 64
    header_end = 21 + struct.unpack(">I", data[17:21])[0]
    # The magic, the header's length and the header, the first record's length and bytes,
    # a record in the middle, the last record's last byte, the signature; one bit flipped in each.
    positions = [0, 9, 16, 17, 20, 21, header_end - 1, header_end, header_end + 3, header_end + 10,
                 len(data) // 2, signature - 1, *range(signature, len(data), 9), len(data) - 1]  # fmt: skip
    cases = {f"bit flipped at {at}": _flipped(data, at) for at in positions}
    cases |= {
        "cut by one byte": data[:-1],
        "cut in the header": data[:30],
        "a byte added": data + b"\x00",
        "two bundles in one file": data + data,
        "empty": b"",
        "garbage": os.urandom(5000),
        "a backup": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + bytes(200),
    }
    bad = tmp_path / "bad.bundle"
    for why, content in cases.items():
        bad.write_bytes(content)
        result = cli(env, "bundle", "import", str(bad), "--data-dir", str(data_dir))
        assert result.returncode == 1, (why, result)
        assert "nothing imported" in result.stderr and "Traceback" not in result.stderr, (why, result.stderr)
    assert not (data_dir / "records.db").exists()  # refused before the store was ever opened
    with bad.open("wb") as sparse:  # over the limit: refused by its size, never read
        sparse.truncate(MAX_BUNDLE_BYTES + 1)
    too_big = cli(env, "bundle", "import", str(bad), "--data-dir", str(data_dir))
    assert too_big.returncode == 1 and "a bundle is at most" in too_big.stderr
    missing = cli(env, "bundle", "import", str(tmp_path / "nowhere.bundle"), "--data-dir", str(data_dir))
    assert missing.returncode == 1 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    directory = cli(env, "bundle", "import", str(tmp_path), "--data-dir", str(data_dir))
    assert directory.returncode == 1 and "Traceback" not in directory.stderr
    nobody = cli(env, "bundle", "import", str(source.bundle), "--data-dir", str(tmp_path / "no-node"))
    assert nobody.returncode == 1 and "holds no node" in nobody.stderr
    assert not (data_dir / "records.db").exists()


def test_the_api_refuses_damaged_bundles_in_the_one_error_shape_and_keeps_serving(
    source: Source, tmp_path: Path
) -> None:
    env, data_dir = empty_node(tmp_path, "e")
    data = source.bundle.read_bytes()
    token = (data_dir / ADMIN_TOKEN_FILE).read_text().strip()
    with run_node(env, tmp_path / "e.log", "--data-dir", str(data_dir), *RUN_FLAGS) as e:
        before = held(data_dir)

        def send(body: bytes, content_type: str = "application/octet-stream", **headers: str) -> tuple[int, Any]:
            host = urllib.parse.urlsplit(e.url).netloc
            connection = HTTPConnection(host, timeout=HANG_GUARD_S)
            try:
                connection.request("POST", "/api/v1/bundle", body, {"Content-Type": content_type,
                                   "Authorization": f"Bearer {token}", **headers})  # fmt: skip
                response = connection.getresponse()
                return response.status, json.loads(response.read())
            finally:
                connection.close()

        for damaged in (_flipped(data, len(data) // 2), data[:-1], data + b"x", b""):
            status, body = send(damaged)
            assert assert_error_shape(status, body)[0] == "bad_bundle", body
        assert "signature does not verify" in send(_flipped(data, len(data) - 3))[1]["error"]["message"]
        assert assert_error_shape(*send(data, "application/json"))[0] == "unsupported_media_type"
        status, body = send(b"", **{"Content-Length": str(MAX_BUNDLE_BYTES + 1)})
        assert assert_error_shape(status, body)[0] == "body_too_large"
        status, body = http("GET", f"{e.url}/api/v1/bundle?since=-1", token=token)
        assert assert_error_shape(status, body)[0] == "bad_query"
        assert held(data_dir) == before
        assert http("GET", f"{e.url}/healthz")[0] == 200
        assert e.stop(HANG_GUARD_S) == 0, e.log_text()


# --- what peering would refuse, a bundle does not bring in ------------------------------------------------------

NOW = int(time.time())
CARRIER = NodeIdentity.from_seed(b"c" * 32)  # a node the receiver never met
POSTER = NodeIdentity.from_seed(b"p" * 32)
BLOCKED = NodeIdentity.from_seed(b"b" * 32)


def _record(author: NodeIdentity, slot: str, *, area: str = "u4pru", created: int = NOW - 60,
            expires: int | None = None) -> Record:  # fmt: skip
    body = {"kind": "need", "slot": slot, "created_at": created, "expires_at": expires or created + DEFAULT_TTL,
            "status": "open", "title": f"Need {slot}", "category": "food", "area": area}  # fmt: skip
    return build_record(author, body)


def _badly_signed() -> bytes:
    raw = _record(POSTER, "forged").raw
    return raw[:-1] + bytes([raw[-1] ^ 1])  # the last byte is the signature's


def test_a_bundle_cannot_bring_in_what_peering_refuses(tmp_path: Path) -> None:
    env, data_dir = empty_node(tmp_path, "f", "u4pr")
    token = (data_dir / ADMIN_TOKEN_FILE).read_text().strip()
    doomed = _record(POSTER, "to-remove")
    first = tmp_path / "first.bundle"
    first.write_bytes(encode_bundle(CARRIER, [doomed.raw], created_at=NOW))
    cases = {
        "good": _record(POSTER, "good").raw,
        "blocked_author": _record(BLOCKED, "blocked").raw,
        "removed": doomed.raw,
        "expired": _record(POSTER, "old", created=NOW - 40 * 86_400, expires=NOW - 10 * 86_400).raw,
        "from_future": _record(POSTER, "later", created=NOW + 86_400).raw,
        "not_served": _record(POSTER, "far", area="gcpvj").raw,
        "bad_signature": _badly_signed(),
    }
    second = tmp_path / "second.bundle"
    second.write_bytes(encode_bundle(CARRIER, list(cases.values()), created_at=NOW))
    expected = {reason: 1 for reason in cases if reason != "good"}
    with run_node(env, tmp_path / "f.log", "--data-dir", str(data_dir), *RUN_FLAGS) as f:
        through = ("--data-dir", str(data_dir), "--node", f.url)
        assert as_json(env, "bundle", "import", str(first), *through)["accepted"] == 1
        status, body = http("POST", f"{f.url}/api/v1/organizer/removals", {"id": doomed.id.hex(), "reason": "spam"},
                            token)  # fmt: skip
        assert status == 201, body
        status, body = http("POST", f"{f.url}/api/v1/policy", {"subject": "author", "key": BLOCKED.public_key.hex(),
                                                                "action": "block"}, token)  # fmt: skip
        assert status == 200, body
        done = as_json(env, "bundle", "import", str(second), *through)
        assert done["exporter_key"] == public_key_to_text(CARRIER.public_key)  # unknown, reported, taken
        assert (done["accepted"], done["rejected"]) == (1, expected), done
        printed = ok(cli(env, "bundle", "import", str(second), *through))
        assert (
            "rejected: bad_signature 1, blocked_author 1, expired 1, from_future 1, not_served 1, removed 1" in printed
        )
        stored = held(data_dir)
        assert cases["good"] in stored and not stored & {raw for why, raw in cases.items() if why != "good"}
        # The carrier blocked as a peer: its bundles are refused whole.
        status, body = http("POST", f"{f.url}/api/v1/policy", {"subject": "peer", "key": CARRIER.public_key.hex(),
                                                                "action": "block"}, token)  # fmt: skip
        assert status == 200, body
        third = tmp_path / "third.bundle"
        third.write_bytes(encode_bundle(CARRIER, [_record(POSTER, "new").raw], created_at=NOW))
        printed = ok(cli(env, "bundle", "import", str(third), *through))
        assert "blocked_exporter 1" in printed and "blocked the exporter's key" in printed
        assert f.stop(HANG_GUARD_S) == 0, f.log_text()
    # The same rules on the stopped node's own files: its policy and removals are read from them.
    offline = as_json(env, "bundle", "import", str(third), "--data-dir", str(data_dir))
    assert offline["rejected"] == {"blocked_exporter": 1} and offline["accepted"] == 0
    assert held(data_dir) == stored


def test_a_bundle_carries_a_key_rotation_and_the_node_follows_it(tmp_path: Path) -> None:
    """A street without internet learns that a chapter changed its key: the rotation
    in a bundle drops the old key's post, the re-signed one stands in for it, the old
    key is refused from then on, and the operator's block of the old key as a peer
    moves to the new one."""
    env, data_dir = empty_node(tmp_path, "g", "u4pr")
    token = (data_dir / ADMIN_TOKEN_FILE).read_text().strip()
    paper, new = RecoveryKey(b"r" * 32), NodeIdentity.from_seed(b"n" * 32)
    profile = build_record(POSTER, {"kind": "node", "slot": NODE_PROFILE_SLOT, "created_at": NOW - 100,
                                    "expires_at": NOW + DEFAULT_TTL, "name": "Riverside", "areas": ["u4pr"],
                                    "urls": [], "seal_key": POSTER.seal_public_key,
                                    "recovery": paper.public_key})  # fmt: skip
    old_post = _record(POSTER, "coats")
    before = tmp_path / "before.bundle"
    before.write_bytes(encode_bundle(CARRIER, [profile.raw, old_post.raw], created_at=NOW))
    (moved,) = resign([old_post], new)
    consent = new.sign_message(rotation_consent(POSTER.public_key, new.public_key, paper.public_key))
    rotation = build_record(paper, {"kind": "key_rotation", "slot": POSTER.public_key.hex(), "created_at": NOW,
                                    "expires_at": NOW + MAX_ROTATION_TTL, "old": POSTER.public_key,
                                    "new": new.public_key, "proof": consent})  # fmt: skip
    after = tmp_path / "after.bundle"
    after.write_bytes(encode_bundle(CARRIER, [rotation.raw, moved.raw], created_at=NOW))
    late = tmp_path / "late.bundle"
    late.write_bytes(encode_bundle(CARRIER, [_record(POSTER, "thief").raw], created_at=NOW))
    with run_node(env, tmp_path / "g.log", "--data-dir", str(data_dir), *RUN_FLAGS) as g:
        through = ("--data-dir", str(data_dir), "--node", g.url)
        assert as_json(env, "bundle", "import", str(before), *through)["accepted"] == 2
        status, body = http("POST", f"{g.url}/api/v1/policy", {"subject": "peer", "key": POSTER.public_key.hex(),
                                                                "action": "block"}, token)  # fmt: skip
        assert status == 200, body
        assert g.stop(HANG_GUARD_S) == 0, g.log_text()
    # Offline, into the stopped node's files: the same checks as a peer's records.
    done = as_json(env, "bundle", "import", str(after), "--data-dir", str(data_dir))
    assert (done["accepted"], done["rejected"]) == (2, {}), done
    assert old_post.raw not in held(data_dir) and rotation.raw in held(data_dir)
    refused = as_json(env, "bundle", "import", str(late), "--data-dir", str(data_dir))
    assert refused["rejected"] == {"key_rotated": 1}, refused
    # At its next start the node moves the operator's block to the chapter's new key.
    with run_node(env, tmp_path / "g2.log", "--data-dir", str(data_dir), *RUN_FLAGS) as g:
        status, body = http("GET", f"{g.url}/api/v1/policy", token=token)
        assert status == 200, body
        blocked = {rule["key"] for rule in body["rules"] if rule["action"] == "block"}
        assert new.public_key.hex() in blocked, body
        status, body = http("GET", f"{g.url}/api/v1/records/{old_post.id.hex()}")  # the old id leads on
        assert status == 200 and (body["author"], body["id"]) == (new.public_key.hex(), moved.id.hex()), body
        assert g.stop(HANG_GUARD_S) == 0, g.log_text()
