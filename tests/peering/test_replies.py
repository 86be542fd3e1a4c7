# Private replies between real node processes: A and C each post, B replies to
# both. A publishes a URL in its profile, so B delivers A's reply directly; C
# publishes none, so its reply travels by gossip (through B's feed, which C
# long-polls). Each poster reads the reply through its post's manage token on
# its own node. The clear text must exist nowhere but in those answers: not in
# any database file, WAL or log of any node (all at debug level).

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Any

from tests.peering.conftest import Node, NodeFactory, read_db, wait_until

MESSAGE_A = "I have two coats that fit, ask for Quetzalli at the blue door"
CONTACT_A = "quetzalli.ramirez@example.org / 555-0199"
MESSAGE_C = "Puedo llevar la bicicleta el sábado — Anaïs"
CONTACT_C = "telegram @anais_bici_7731"
SECRETS = (MESSAGE_A, CONTACT_A, MESSAGE_C, CONTACT_C, "Quetzalli", "555-0199", "anais_bici_7731")


def free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(root: Path, name: str, public_url: str | None = None) -> None:
    """A data directory whose settings log at debug level (and publish a URL)."""
    directory = root / name
    directory.mkdir(mode=0o700)
    lines = [f'name = "{name} pantry"', 'log_level = "debug"']
    if public_url is not None:
        lines.append(f'public_urls = ["{public_url}"]')
    (directory / "config.toml").write_text("\n".join(lines) + "\n")


def holds(node: Node, record_id: str, author: str) -> bool:
    """The node holds the post and its author's profile (needed to seal)."""
    profiles = node.records(kind="node", status="open", limit="100")
    return node.get(record_id) is not None and any(p["author"] == author for p in profiles)


def reply(node: Node, record_id: str, message: str, contact: str) -> dict[str, Any]:
    status, answer = node.api("POST", f"/api/v1/records/{record_id}/replies", {"message": message, "contact": contact})
    assert status == 202, answer
    return dict(answer["reply"])


def every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_reply_is_sealed_on_b_and_opened_only_through_the_manage_link(nodes: NodeFactory, tmp_path: Path) -> None:
    port = free_port()
    prepare(tmp_path, "a", f"http://127.0.0.1:{port}")
    prepare(tmp_path, "b")
    prepare(tmp_path, "c")
    a = nodes.start("a", port=port)
    c = nodes.start("c")
    b = nodes.start("b", peers=[a.url, c.url])
    offer_a, token_a = a.post("Two warm coats, child sizes", kind="offer")
    need_c, token_c = c.post("Bicycle for getting to work")
    key_a, key_c = a.info()["public_key"], c.info()["public_key"]
    wait_until(lambda: holds(b, offer_a["id"], key_a), "B holds A's offer and profile")
    wait_until(lambda: holds(b, need_c["id"], key_c), "B holds C's need and profile")

    sent_a = reply(b, offer_a["id"], MESSAGE_A, CONTACT_A)
    sent_c = reply(b, need_c["id"], MESSAGE_C, CONTACT_C)
    assert sent_a["delivered"] == "direct"  # A's profile lists its URL
    assert sent_c["delivered"] == "network"  # C's lists none: gossip carries it

    def replies(node: Node, record_id: str, token: str) -> list[dict[str, Any]] | None:
        status, answer = node.api("GET", f"/api/v1/records/{record_id}/replies", token=token)
        assert status == 200, answer
        return list(answer["replies"]) or None

    on_a = wait_until(lambda: replies(a, offer_a["id"], token_a), "A can open B's reply")
    assert [(r["id"], r["message"], r["contact"]) for r in on_a] == [(sent_a["id"], MESSAGE_A, CONTACT_A)]
    on_c = wait_until(lambda: replies(c, need_c["id"], token_c), "C can open B's reply")
    assert [(r["id"], r["message"], r["contact"]) for r in on_c] == [(sent_c["id"], MESSAGE_C, CONTACT_C)]

    # Every node keeps the sealed record (gossip spreads it); none but the poster's can open it.
    def sealed_replies(node: Node) -> int:
        return len(read_db(node.database, "SELECT id FROM records WHERE kind = 'reply'"))

    for node in (a, b, c):
        wait_until(lambda node=node: sealed_replies(node) == 2, f"{node.name} holds both sealed replies")  # type: ignore[misc]
    status, answer = b.api("GET", f"/api/v1/records/{offer_a['id']}/replies", token=token_a)
    assert status == 403, answer  # the manage token means nothing on another node
    status, answer = a.api("GET", f"/api/v1/records/{offer_a['id']}/replies", token=token_c)
    assert status == 403, answer
    status, answer = a.api("GET", f"/api/v1/records/{offer_a['id']}/replies")
    assert status == 401, answer

    for node in (b, c, a):
        node.stop()
    files = every_file(tmp_path)
    assert any(p.name == "records.db" for p in files) and any(p.suffix == ".log" for p in files)
    assert b"reply id=" in b"".join(p.read_bytes() for p in files if p.suffix == ".log")  # debug logs are there
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret!r} is in {path.relative_to(tmp_path)}"
