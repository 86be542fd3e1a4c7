"""Key recovery and rotation, end to end (issue 12): real node processes started
through the CLI, the recovery key's words from ``init``, ``mutualaid key rotate``.

Two scenarios. The Pi dies and its backup is restored: the same key, its peers
carry on. The node key leaks and the chapter rotates: both peers move their pin
to the new key within their next reconciliation, the chapter's posts and
decisions come back under it and old ids lead to them, manage links and cards
keep working; the thief, holding the old key, is refused by every peer, and a
rotation signed by anything but the recovery key is refused (before the real
rotation and after it)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crypto import Domain, NodeIdentity, RecoveryKey, signing_message
from node.core.datadir import IDENTITY_FILE, NEXT_FILE, RECOVERY_FILE
from node.operate.rotate import RETIRED_PREFIX, retired_file
from protocol.codec import Value, decode, encode
from protocol.records import (
    DAY,
    FORMAT_VERSION,
    MAX_ROTATION_TTL,
    NODE_PROFILE_SLOT,
    Record,
    build_record,
    rotation_consent,
)
from tests._nodes import wait_until
from tests.node._cli import HANG_GUARD_S, Running, cli, cli_env, http, init, post_need, run_node
from tests.node.test_cli_chapter import as_json, join, ok, sheet
from tests.peering.conftest import http_call, make_post, signed_headers

RECORDS = "/peer/v1/records"
PASSPHRASE = "a passphrase kept on paper too"  # noqa: S105 - the test's own


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listen(port: int) -> tuple[str, ...]:
    return ("--listen", f"127.0.0.1:{port}", "--no-mdns")


def push(authority: str, records: list[Record | bytes], caller: NodeIdentity | None = None) -> list[str] | int:
    """Records pushed to a node's peer API, as a peer would: the outcomes, or
    the HTTP status of a refused request."""
    caller = caller or NodeIdentity.generate()
    body = encode([r if isinstance(r, bytes) else r.raw for r in records])
    headers = signed_headers(caller, "POST", RECORDS, authority, body)
    status, _, answer = http_call(authority, "POST", RECORDS, body, headers)
    if status != 200:
        return status
    outcomes = decode(answer)
    assert isinstance(outcomes, dict)
    return [str(o) for o in outcomes["outcomes"]]  # type: ignore[union-attr]


def rotation(signer: Any, old: bytes, new: NodeIdentity, proof: bytes | None = None) -> Record:
    """A key rotation as a node builds it, the new key consenting (or ``proof`` in its place)."""
    now = int(time.time())
    consent = new.sign_message(rotation_consent(old, new.public_key, signer.public_key))
    return build_record(
        signer,
        {"kind": "key_rotation", "slot": old.hex(), "created_at": now, "expires_at": now + MAX_ROTATION_TTL,
         "old": old, "new": new.public_key, "proof": consent if proof is None else proof},
    )  # fmt: skip


def peer_key(env: dict[str, str], data_dir: Path, url: str, peer_url: str) -> tuple[str | None, str] | None:
    listed = json.loads(ok(cli(env, "peers", "list", "--data-dir", str(data_dir), "--node", url, "--json")))
    for peer in listed["peers"]:
        if peer["url"] == peer_url:
            return peer["public_key"], peer["state"]
    return None


def held(url: str, record_id: str) -> dict[str, Any] | None:
    status, body = http("GET", f"{url}/api/v1/records/{record_id}")
    return body if status == 200 else None


def test_init_prints_a_recovery_key_once_and_keeps_only_its_public_half(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    made = init(env, tmp_path / "node")
    words = made["recovery_words"]
    assert len(words.split()) == 24
    kept = (tmp_path / "node" / RECOVERY_FILE).read_text()
    assert kept.strip() == made["recovery_key"] and words.split()[0] not in kept
    for path in (tmp_path / "node").iterdir():  # the words are nowhere on the node
        assert words.encode() not in path.read_bytes(), path
    assert RecoveryKey.from_words(words).public_key.hex() != made["public_key"]
    shown = as_json(env, "key", "show", "--data-dir", str(tmp_path / "node"))
    assert shown == {"node_key": made["key"], "recovery_key": made["recovery_key"], "retired_keys": []}
    # A second init, or key recovery, never makes another: peers pinned the first.
    again = init(env, tmp_path / "node")
    assert "recovery_words" not in again
    refused = cli(env, "key", "recovery", "--data-dir", str(tmp_path / "node"))
    assert refused.returncode != 0 and "cannot be replaced" in refused.stderr and "Traceback" not in refused.stderr
    # Human output: the words numbered, and a QR code of them.
    human = cli(env, "init", "--data-dir", str(tmp_path / "other"))
    assert human.returncode == 0 and " 1. " in human.stdout and "24. " in human.stdout and "█" in human.stdout


def test_rotate_refuses_wrong_words_plainly_and_changes_nothing(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    made = init(env, data_dir)
    before = (data_dir / IDENTITY_FILE).read_bytes()
    words = made["recovery_words"].split()
    cases = {
        " ".join(words[:23]): "24 words",
        " ".join([*words[:23], "notaword"]): "not on the word list",
        " ".join([words[1], words[0], *words[2:]]): "checksum",
        RecoveryKey.generate().words: "not this node's recovery key",
    }
    for text, said in cases.items():
        result = cli(env, "key", "rotate", "--data-dir", str(data_dir), "--words-file", "-", stdin=text)
        assert result.returncode != 0 and said in result.stderr, (said, result.stderr)
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert (data_dir / IDENTITY_FILE).read_bytes() == before
    assert not list(data_dir.glob(f"{RETIRED_PREFIX}*"))
    oversized = cli(env, "key", "rotate", "--data-dir", str(data_dir), "--words-file", "-", stdin="x" * 10_000)
    assert oversized.returncode != 0 and "longer than a recovery key" in oversized.stderr


def test_a_rotation_cut_short_is_finished_by_running_it_again(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    data_dir = tmp_path / "node"
    made = init(env, data_dir)
    with run_node(env, tmp_path / "node.log", "--data-dir", str(data_dir), *listen(0)) as node:
        need, _ = post_need(env, node.url, "Bread on Fridays")
        assert node.stop(HANG_GUARD_S) == 0
    first = as_json(
        env, "key", "rotate", "--data-dir", str(data_dir), "--words-file", "-", stdin=made["recovery_words"]
    )
    assert first["carried"] == 1 and first["resumed"] is False
    # As if the power went after the store took the rotation, before the key files moved.
    old = bytes.fromhex(made["public_key"])
    os.replace(data_dir / IDENTITY_FILE, data_dir / NEXT_FILE)
    os.replace(data_dir / retired_file(old), data_dir / IDENTITY_FILE)
    refused = cli(env, "run", "--data-dir", str(data_dir), *listen(0))  # the node will not start on it
    assert refused.returncode != 0 and "cut short" in refused.stderr and "Traceback" not in refused.stderr
    again = as_json(
        env, "key", "rotate", "--data-dir", str(data_dir), "--words-file", "-", stdin=made["recovery_words"]
    )
    assert again == first | {"carried": 0, "resumed": True}
    assert as_json(env, "key", "show", "--data-dir", str(data_dir))["node_key"] == first["new_key"]
    # Run once more, it refuses: the key is the rotation's own. --again rotates it too (it leaked as well).
    twice = cli(env, "key", "rotate", "--data-dir", str(data_dir), "--words-file", "-", stdin=made["recovery_words"])
    assert twice.returncode != 0 and "--again" in twice.stderr and twice.stdout == ""
    third = as_json(env, "key", "rotate", "--data-dir", str(data_dir), "--words-file", "-", "--again",
                    stdin=made["recovery_words"])  # fmt: skip
    assert third["old_key"] == first["new_key"] and third["carried"] == 1
    shown = as_json(env, "key", "show", "--data-dir", str(data_dir))
    assert shown["retired_keys"] == [made["key"], first["new_key"]] and shown["node_key"] == third["new_key"]
    with run_node(env, tmp_path / "node-2.log", "--data-dir", str(data_dir), *listen(0)) as node:
        assert held(node.url, need)["author"] == NodeIdentity.load(data_dir / IDENTITY_FILE).public_key.hex()  # type: ignore[index]
        assert node.stop(HANG_GUARD_S) == 0


def test_the_pi_dies_and_its_backup_brings_the_chapter_back_under_the_same_key(tmp_path: Path) -> None:
    env = cli_env(tmp_path, MUTUALAID_BACKUP_PASSPHRASE=PASSPHRASE)
    pi, peer_dir = tmp_path / "pi", tmp_path / "peer"
    made = init(env, pi)
    init(env, peer_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    backup = tmp_path / "pi.backup"
    with run_node(env, tmp_path / "pi.log", "--data-dir", str(pi), *listen(port)) as node:
        need, token = post_need(env, url, "Winter coats for two")
        with run_node(env, tmp_path / "peer.log", "--data-dir", str(peer_dir), *listen(0), "--peer", url) as peer:
            wait_until(lambda: held(peer.url, need), "the peer holds the chapter's need")
            ok(cli(env, "backup", str(backup), "--data-dir", str(pi), "--with-key"))
            os.kill(node.pid, signal.SIGKILL)  # the Pi dies
            node.wait(HANG_GUARD_S)
            shutil.rmtree(pi)  # with its SD card
            ok(cli(env, "restore", str(backup), "--data-dir", str(tmp_path / "new-pi")))
            with run_node(env, tmp_path / "new-pi.log", "--data-dir", str(tmp_path / "new-pi"), *listen(port)) as back:
                later, _ = post_need(env, url, "Soup on Sunday")
                wait_until(lambda: held(peer.url, later), "the peer holds a post made after the restore")
                assert peer_key(env, peer_dir, peer.url, url) == (made["public_key"], "connected")
                ok(cli(env, "mark", need, "claimed", f"--token={token}", "--node", url))
                assert (held(url, need) or {}).get("status") == "claimed"
                assert back.stop(HANG_GUARD_S) == 0, back.log_text()
            assert peer.stop(HANG_GUARD_S) == 0, peer.log_text()


def test_everything_lost_the_paper_and_the_peers_bring_the_chapter_back(tmp_path: Path) -> None:
    """No backup at all: a new directory syncs the chapter's posts back from a peer,
    then `key rotate --old-key` signs them under a new key, and the peer follows."""
    env = cli_env(tmp_path)
    made = init(env, tmp_path / "pi")
    old_key = bytes.fromhex(made["public_key"])
    init(env, tmp_path / "peer")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    pi = run_node(env, tmp_path / "pi.log", "--data-dir", str(tmp_path / "pi"), *listen(port))
    peer = run_node(env, tmp_path / "peer.log", "--data-dir", str(tmp_path / "peer"), *listen(0), "--peer", url)
    try:
        need, _ = post_need(env, url, "Diapers, size 3")
        wait_until(_holds(peer.url, need), "the peer holds the chapter's need")
        pi.kill()  # SIGKILL: the Pi and its SD card are gone, with no backup
        shutil.rmtree(tmp_path / "pi")
        fresh = tmp_path / "new-pi"
        init(env, fresh)  # a volunteer sets up a new node, as for any new chapter
        with run_node(env, tmp_path / "new-pi.log", "--data-dir", str(fresh), *listen(port), "--peer", peer.url):
            wait_until(_holds(url, need), "the new node holds the chapter's posts again, from the peer")
        done = as_json(env, "key", "rotate", "--data-dir", str(fresh), "--old-key", made["key"], "--words-file", "-",
                       stdin=made["recovery_words"])  # fmt: skip
        assert done["old_key"] == made["key"] and done["carried"] == 1
        assert (fresh / RECOVERY_FILE).read_text().strip() == made["recovery_key"]  # the paper's, not init's
        new_key = NodeIdentity.load(fresh / IDENTITY_FILE).public_key
        pi = run_node(env, tmp_path / "new-pi-2.log", "--data-dir", str(fresh), *listen(port), "--peer", peer.url)
        moved = wait_until(_moving(peer.url, need, new_key), "the peer has the need under the new key")
        assert moved["title"] == "Diapers, size 3"
        wait_until(_pinned(env, tmp_path / "peer", peer.url, url, (new_key.hex(), "connected")), "the pin moved")
        assert push(peer.url.removeprefix("http://"), [make_post(NodeIdentity.generate(), "x")]) == ["accepted"]
        assert old_key != new_key
    finally:
        for process in (pi, peer):
            process.stop(HANG_GUARD_S)


def test_a_leaked_key_is_rotated_and_every_peer_follows_the_chapter(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    chapter_dir = tmp_path / "chapter"
    made = init(env, chapter_dir)
    words, old_key = made["recovery_words"], bytes.fromhex(made["public_key"])
    peers = {name: tmp_path / name for name in ("p", "q")}
    peer_keys = {name: bytes.fromhex(init(env, data_dir)["public_key"]) for name, data_dir in peers.items()}
    port = free_port()
    url, authority = f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"
    node = run_node(env, tmp_path / "chapter.log", "--data-dir", str(chapter_dir), *listen(port))
    running = {
        name: run_node(env, tmp_path / f"{name}.log", "--data-dir", str(d), *listen(0), "--peer", url)
        for name, d in peers.items()
    }
    try:
        need, token = post_need(env, url, "Rides to the clinic")
        founding = Running(node, env, made["public_key"], made["key"], chapter_dir)
        card = join(founding, sheet(founding, 1)[0], "Ama")
        ama = env | {"MUTUALAID_MEMBER_CARD": card, "MUTUALAID_NODE": url}
        proposed = as_json(ama, "propose", "--type", "text", "--title", "Meet on Thursdays", "--text", "At 6pm.",
                           "--closes-in", "1h")  # fmt: skip
        ok(cli(ama, "vote", proposed["proposal"]["id"], "agree"))  # the whole electorate: it closes
        decided = wait_until(lambda: _decision(ama, "Meet on Thursdays"), "the decision is published")
        for peer in running.values():
            wait_until(_holds(peer.url, need, decided["id"]), "peers hold both")
        p_authority = running["p"].url.removeprefix("http://")

        # A forged rotation (the thief has the node key, not the paper) is refused.
        stolen = NodeIdentity.load(chapter_dir / IDENTITY_FILE)
        thief_recovery, thief_key = RecoveryKey.generate(), NodeIdentity.generate()
        assert push(p_authority, [rotation(thief_recovery, old_key, thief_key)]) == ["rejected:not_recovery_key"]
        self_signed = _forge(stolen, old_key, thief_key)  # the old key naming its own successor
        assert push(p_authority, [self_signed]) == ["rejected:bad_rotation"]

        # The chapter rotates: node stopped, words from paper, node started again.
        assert node.stop(HANG_GUARD_S) == 0, node.log_text()
        done = json.loads(ok(cli(env, "key", "rotate", "--data-dir", str(chapter_dir), "--words-file", "-",
                                 "--json", stdin=words)))  # fmt: skip
        assert done["old_key"] == made["key"] and done["carried"] >= 2 and not done["resumed"]
        new_key = NodeIdentity.load(chapter_dir / IDENTITY_FILE).public_key
        assert new_key != old_key and (chapter_dir / retired_file(old_key)).exists()
        node = run_node(env, tmp_path / "chapter-2.log", "--data-dir", str(chapter_dir), *listen(port))

        for name, peer in running.items():
            # Both peers move their pin to the new key, and hold the chapter's records under it.
            pinned = (new_key.hex(), "connected")
            wait_until(_pinned(env, peers[name], peer.url, url, pinned), f"peer {name} pinned the new key")
            moved = wait_until(_moving(peer.url, need, new_key), f"peer {name}'s old id redirects")
            assert moved["title"] == "Rides to the clinic"
            chain = wait_until(_moving(peer.url, decided["id"], new_key), "the decision moved")
            assert (chain["seq"], chain["title"]) == (1, "Meet on Thursdays")
            found = [r for r in _search(peer.url, "clinic") if r["title"] == "Rides to the clinic"]
            assert [r["author"] for r in found] == [new_key.hex()], found  # one copy, the new key's
            # The thief: anything the old key signs is refused, and so are its requests.
            assert push(peer.url.removeprefix("http://"), [make_post(stolen, "Send money here")]) == [
                "rejected:key_rotated"
            ]
            assert push(peer.url.removeprefix("http://"), [make_post(thief_key, f"Harmless {name}")]) == ["accepted"]
            assert push(peer.url.removeprefix("http://"), [], caller=stolen) == 403
            forged = rotation(thief_recovery, new_key, thief_key)
            assert push(peer.url.removeprefix("http://"), [forged]) == ["rejected:not_recovery_key"]
            profile = _profile(stolen, thief_recovery.public_key)
            assert push(peer.url.removeprefix("http://"), [profile]) == ["rejected:key_rotated"]

        # Even the paper key cannot hand the chapter to another chapter's key.
        paper = RecoveryKey.from_words(words)
        p_identity = NodeIdentity.load(peers["p"] / IDENTITY_FILE)
        assert p_identity.public_key == peer_keys["p"]
        grab = rotation(paper, new_key, p_identity)  # even with p's consent: p's own recovery key speaks for p
        assert push(running["q"].url.removeprefix("http://"), [grab]) == ["rejected:key_taken"]
        unasked = rotation(paper, new_key, p_identity, proof=thief_key.sign_message(b"not p's consent"))
        assert push(running["q"].url.removeprefix("http://"), [unasked]) == ["rejected:bad_signature"]

        # Members notice nothing: the manage link and the card work as before.
        ok(cli(env, "mark", need, "claimed", f"--token={token}", "--node", url))
        assert _moved(url, need, new_key)["status"] == "claimed"  # type: ignore[index]
        assert as_json(ama, "members", "me")["member"]["name"] == "Ama"
        # The proposal names its decision's new id, and the chapter's chain goes on from it.
        decision_now = as_json(ama, "proposal", proposed["proposal"]["id"])["proposal"]["decision"]
        assert decision_now == _moved(url, decided["id"], new_key)["id"]  # type: ignore[index]
        later = as_json(ama, "propose", "--type", "text", "--title", "Meet on Fridays too", "--text", "At 6pm.",
                        "--closes-in", "1h")  # fmt: skip
        ok(cli(ama, "vote", later["proposal"]["id"], "agree"))
        second = wait_until(lambda: _decision(ama, "Meet on Fridays too"), "the next decision is published")
        assert (second["seq"], second["prev"], second["author"]) == (2, decision_now, new_key.hex())
        wait_until(_holds(running["q"].url, second["id"]), "a peer takes the next link of the chain")
        wait_until(_claimed(running["p"].url, need, new_key), "the edit travels to the peers")
        # The chapter's node refuses its old key too.
        assert push(authority, [make_post(stolen, "Send money here too")]) == ["rejected:key_rotated"]
        shown = as_json(env, "key", "show", "--data-dir", str(chapter_dir))
        assert shown["retired_keys"] == [made["key"]] and shown["recovery_key"] == made["recovery_key"]
    finally:
        for process in (node, *running.values()):
            process.stop(HANG_GUARD_S)
    for name in ("chapter-2", "p", "q"):
        log = (tmp_path / f"{name}.log").read_text()
        assert "Traceback" not in log, log[-3000:]
        assert words not in log  # nor any three of its words in a row
        assert not any(" ".join(words.split()[i : i + 3]) in log for i in range(22)), name


def _holds(url: str, *ids: str) -> Callable[[], bool]:
    return lambda: all(held(url, i) for i in ids)


def _pinned(env: dict[str, str], data_dir: Path, url: str, peer_url: str, want: tuple[str, str]) -> Callable[[], bool]:
    return lambda: peer_key(env, data_dir, url, peer_url) == want


def _moving(url: str, old_id: str, new_key: bytes) -> Callable[[], dict[str, Any] | None]:
    return lambda: _moved(url, old_id, new_key)


def _claimed(url: str, old_id: str, new_key: bytes) -> Callable[[], bool]:
    return lambda: (_moved(url, old_id, new_key) or {}).get("status") == "claimed"


def _forge(signer: NodeIdentity, old: bytes, new: NodeIdentity) -> bytes:
    """A rotation signed by the old key itself: bytes no honest node would build."""
    now = int(time.time())
    proof = new.sign_message(rotation_consent(old, new.public_key, signer.public_key))
    body: dict[str, Value] = {"v": FORMAT_VERSION, "kind": "key_rotation", "author": signer.public_key,
                              "slot": old.hex(), "created_at": now, "expires_at": now + DAY,
                              "old": old, "new": new.public_key, "proof": proof}  # fmt: skip
    payload = encode(body)
    return encode([payload, signer.sign_message(signing_message(Domain.RECORD, payload))])


def _decision(env: dict[str, str], title: str) -> dict[str, Any] | None:
    records = as_json(env, "decisions")["records"]
    return next((r for r in records if r["title"] == title), None)


def _moved(url: str, old_id: str, new_key: bytes) -> dict[str, Any] | None:
    """The record an old id leads to, once it is the new key's."""
    record = held(url, old_id)
    return record if record is not None and record["author"] == new_key.hex() else None


def _search(url: str, text: str) -> list[dict[str, Any]]:
    status, body = http("GET", f"{url}/api/v1/records?q={text}")
    assert status == 200, body
    return list(body["records"])


def _profile(signer: NodeIdentity, recovery: bytes) -> Record:
    now = int(time.time())
    return build_record(
        signer,
        {"kind": "node", "slot": NODE_PROFILE_SLOT, "created_at": now, "expires_at": now + DAY, "name": "Thief",
         "areas": [], "urls": [], "seal_key": signer.seal_public_key, "recovery": recovery},
    )  # fmt: skip
