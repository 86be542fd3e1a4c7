"""Which links carry records whole: a spanning tree rooted at the lowest key.

Eager and lazy links (decisions.copies_in_a_row, PROTOCOL.md 8.3) settle
into *a* spanning tree, but which one depends on where the first posts came
from: with posts from everywhere it is close to a random tree, and a random
tree of a sparse mesh is deep (25 nodes of 4 links each: paths of 12 to 14
hops where the mesh's longest is 4). Every hop costs a tenth of a second or
more on a slow link, so the tree's depth is the post's delay.

So the nodes also agree on a shallow tree, the way bridges do (IEEE 802.1D's
spanning tree, much simplified): every node tells each neighbour, on the
requests and answers the link makes anyway (hello, feed polls,
reconciliations), an *advert*: the root it follows (the lowest node key it
has heard of, its own included), its distance to that root in hops, whether
that neighbour is its parent (the neighbour nearest the root, ties kept then
broken by key), and whether its own parent link carries records already
(*settled*). A link is a *tree link* when either end is the other's parent.
The tree links are the root's breadth-first tree: no two nodes are more than
twice the root's depth apart.

How node/peering/peer_link.py uses it: a tree link is eager and never
pruned; any other link turns lazy once both ends are settled, so a node that
changes parent keeps its old link until the new one carries records (a
link a reconciliation grafted is held eager decisions.GRAFT_HOLD_S first). Only hints: a wrong or stale
advert makes a link eager or lazy, never loses a record (every link still
reconciles). Adverts expire after ADVERT_TTL_S unrefreshed, and a distance
above MAX_TREE_DIST is not followed, so a root that left is forgotten (the
distances through a lost root count up to that bound and stop). A node that
makes itself a key lower than everyone's becomes the root: it then carries
most records first, and one that drops them slows them to the lazy links'
reconciliations (seconds), never loses one.

Pure: no I/O, no clock; the time comes in as arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from protocol.codec import Value
from protocol.errors import DecodeError

MAX_TREE_DIST = 16
"""Hops from the root beyond which an advert is not followed (a mesh of a
thousand nodes of 8 links is 5 or 6 deep; counting to it forgets a lost root)."""
ADVERT_TTL_S = 90.0
"""An advert not refreshed for this long is forgotten: a lazy link reconciles
at least every 30 s (with jitter, 45), an eager one polls every 20 s."""
MAX_HEARD = 256
"""Neighbours whose adverts are kept: past it a new caller's advert is not
taken (those already heard keep being refreshed), so keys made by the
thousand cannot grow the table or the cost of a choice."""
KEY_BYTES = 32
QUERY_FORM = re.compile(r"^([0-9a-f]{64})\.([0-9]{1,2})\.([01])([01])$")
"""The advert as the feed's ``tree`` query parameter: root hex, distance, parent flag, settled flag."""


@dataclass(frozen=True)
class Advert:
    """What a node tells one neighbour of its place in the tree."""

    root: bytes
    dist: int
    parent: bool  # the neighbour it is told to is its parent
    settled: bool  # its own parent link carries records (or it is the root)

    def to_wire(self) -> Value:
        return [self.root, self.dist, self.parent, self.settled]

    def to_query(self) -> str:
        return f"{self.root.hex()}.{self.dist}.{int(self.parent)}{int(self.settled)}"


def _checked(sender: bytes, root: bytes, dist: int, parent: bool, settled: bool) -> Advert:
    if len(root) != KEY_BYTES:
        raise DecodeError("tree: the root is a 32-byte key")
    if not 0 <= dist <= MAX_TREE_DIST:
        raise DecodeError(f"tree: the distance is 0 to {MAX_TREE_DIST}")
    if dist == 0 and root != sender:
        raise DecodeError("tree: only the root itself is 0 hops from the root")
    return Advert(root, dist, parent, settled)


def from_wire(value: Value, sender: bytes) -> Advert:
    """An advert as sent in a message body (``[root, dist, parent, settled]``),
    checked against the key that signed the message, or ``DecodeError``."""
    if not isinstance(value, list) or len(value) != 4:
        raise DecodeError("tree is the list [root, dist, parent, settled]")
    root, dist, parent, settled = value
    if not isinstance(root, bytes) or isinstance(dist, bool) or not isinstance(dist, int):
        raise DecodeError("tree is the list [root (bytes), dist (integer), parent, settled]")
    if not isinstance(parent, bool) or not isinstance(settled, bool):
        raise DecodeError("tree: parent and settled are booleans")
    return _checked(sender, root, dist, parent, settled)


def from_query(text: str, sender: bytes) -> Advert:
    """The feed's ``tree`` parameter (Advert.to_query), or ``DecodeError``."""
    match = QUERY_FORM.match(text)
    if match is None:
        raise DecodeError("tree is <root hex>.<dist>.<parent 0|1><settled 0|1>")
    root, dist, parent, settled = match.groups()
    return _checked(sender, bytes.fromhex(root), int(dist), parent == "1", settled == "1")


@dataclass(frozen=True)
class Choice:
    root: bytes
    dist: int
    parent: bytes | None  # None: this node is the root


def choose(own: bytes, adverts: dict[bytes, Advert], current: bytes | None = None) -> Choice:
    """The root to follow (the lowest key heard of, our own included), and the
    neighbour nearest it as parent: the current one while no other is nearer,
    else the lowest key. A neighbour whose parent we are is not a way to the
    root (split horizon: two nodes never count each other's distance up)."""
    ways = [(a.root, a.dist + 1, peer) for peer, a in adverts.items() if not a.parent and a.dist < MAX_TREE_DIST]
    root = min([own, *(way[0] for way in ways)])
    if root == own:
        return Choice(own, 0, None)
    dist, _, parent = min((dist, peer != current, peer) for r, dist, peer in ways if r == root)
    return Choice(root, dist, parent)


class Spanning:
    """This node's adverts heard and its place in the tree; ``on_change`` is
    called when a link's part in the tree may have changed."""

    def __init__(self, own: bytes) -> None:
        self.own = own
        self.on_change: Callable[[], None] | None = None
        self._heard: dict[bytes, tuple[Advert, float]] = {}  # by neighbour key: advert, when
        self._choice = Choice(own, 0, None)
        self._settled_check: Callable[[bytes], bool] = lambda _parent: False

    @property
    def choice(self) -> Choice:
        return self._choice

    def set_settled_check(self, check: Callable[[bytes], bool]) -> None:
        """How to tell whether the link to a parent carries records (the node's links and pollers)."""
        self._settled_check = check

    def advert_for(self, peer: bytes | None) -> Advert:
        choice = self._choice
        parent = peer is not None and choice.parent == peer
        return Advert(choice.root, choice.dist, parent, self.settled())

    def settled(self) -> bool:
        return self._choice.parent is None or self._settled_check(self._choice.parent)

    def tree_link(self, peer: bytes) -> bool:
        """Whether ``peer`` is our parent or we are its."""
        heard = self._heard.get(peer)
        return self._choice.parent == peer or (heard is not None and heard[0].parent)

    def peer_settled(self, peer: bytes) -> bool:
        heard = self._heard.get(peer)
        return heard is not None and heard[0].settled

    def learn(self, peer: bytes, advert: Advert, now: float) -> None:
        before = self._heard.get(peer)
        if before is None and len(self._heard) >= MAX_HEARD:
            return
        self._heard[peer] = (advert, now)
        if before is None or before[0] != advert:
            self._recompute()

    def forget(self, peer: bytes) -> None:
        if self._heard.pop(peer, None) is not None:
            self._recompute()

    def expire(self, now: float) -> None:
        """Forget adverts older than ADVERT_TTL_S (called now and then)."""
        stale = [peer for peer, (_, when) in self._heard.items() if now - when > ADVERT_TTL_S]
        for peer in stale:
            del self._heard[peer]
        if stale:
            self._recompute()

    def _recompute(self) -> None:
        self._choice = choose(self.own, {peer: heard[0] for peer, heard in self._heard.items()}, self._choice.parent)
        if self.on_change is not None:
            self.on_change()
