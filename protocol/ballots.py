"""How a chapter's proposals are counted: the tally, instant runoff, the receipts list.

Pure: no I/O, no clock, no randomness. The node's chapter store hands over
the ballots of a closed proposal and publishes what ``tally`` answers; a
member (or a test) recounts from the published receipts list with the same
function. docs/CHAPTER.md states these rules in words; change them together.

A proposal is counted one of two ways (``METHODS``):

- ``choice``: each ballot is one of ``agree``, ``abstain``, ``disagree``
  (and ``block`` under the ``consent`` threshold). Abstentions count towards
  the quorum, never for or against.
- ``ranked``: each ballot ranks some of the proposal's options (numbered from
  1), best first; an empty ranking is an abstention. Instant runoff picks
  the winner.

The quorum is met when ``turnout * 100 >= quorum * electorate`` (a share, in
percent, of the electorate frozen when the proposal opened). Then:

- ``majority``: more agree than disagree;
- ``two_thirds``: agree at least twice disagree (two thirds of those who took a side);
- ``consent``: nobody blocks;

and under every threshold at least one member agreed (a proposal nobody
agreed with does not pass). A ranked proposal passes when the quorum is met
and instant runoff finds a winner.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocol.codec import Value, encode

CHOICES = ("agree", "abstain", "disagree", "block")
"""What a ``choice`` ballot may say; ``block`` only under ``consent``."""
METHODS = ("choice", "ranked")
THRESHOLDS = ("majority", "two_thirds", "consent")
BALLOTS = ("secret", "open")
OUTCOMES = ("passed", "failed", "no_quorum")
ABSTAIN = "abstain"
MAX_OPTIONS = 10
"""Options of a ranked proposal."""

Ballot = str | tuple[int, ...]
"""A choice, or a ranking of option numbers (best first; empty: abstain)."""


@dataclass(frozen=True)
class Rules:
    """How one proposal is counted, fixed when it opens."""

    method: str
    threshold: str
    quorum: int
    """Percent of the electorate that must vote, 0 to 100."""
    electorate: int
    options: int = 0
    """How many options a ranked proposal has."""

    def choices(self) -> tuple[str, ...]:
        """The choices a ``choice`` ballot may make under these rules."""
        return CHOICES if self.threshold == "consent" else CHOICES[:3]


@dataclass(frozen=True)
class Tally:
    outcome: str
    counts: dict[str, int]
    """By choice (``agree``...), or for a ranked proposal the first
    preferences by option (``option-1``...) and ``abstain``."""
    turnout: int
    electorate: int
    quorum_met: bool
    winner: int | None = None
    """A ranked proposal's winning option, if any."""
    rounds: tuple[dict[int, int], ...] = ()
    """Instant runoff's rounds: votes per continuing option."""


class BallotInvalid(ValueError):
    """A ballot these rules do not allow."""


def check_ballot(rules: Rules, ballot: Ballot) -> Ballot:
    """The ballot as counted (a ranking as a tuple), or ``BallotInvalid``."""
    if rules.method == "choice":
        if not isinstance(ballot, str) or ballot not in rules.choices():
            raise BallotInvalid(f"choose one of {', '.join(rules.choices())}")
        return ballot
    if isinstance(ballot, str):
        if ballot == ABSTAIN:
            return ()
        raise BallotInvalid(f"rank options 1 to {rules.options}, best first (or abstain)")
    ranking = tuple(ballot)
    if any(isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= rules.options for n in ranking):
        raise BallotInvalid(f"this proposal's options are numbered 1 to {rules.options}")
    if len(set(ranking)) != len(ranking):
        raise BallotInvalid("an option is ranked twice")
    return ranking


def tally(rules: Rules, ballots: Iterable[Ballot]) -> Tally:
    """Count a closed proposal's ballots (each already checked by ``check_ballot``)."""
    cast = list(ballots)
    turnout = len(cast)
    quorum_met = turnout * 100 >= rules.quorum * rules.electorate
    if rules.method == "ranked":
        return _ranked(rules, [b for b in cast if not isinstance(b, str)], turnout, quorum_met)
    counts = Counter(str(b) for b in cast)
    shown = {choice: counts.get(choice, 0) for choice in rules.choices()}
    agree, disagree = shown["agree"], shown["disagree"]
    if rules.threshold == "majority":
        carried = agree > disagree
    elif rules.threshold == "two_thirds":
        carried = agree >= 2 * disagree
    else:
        carried = shown.get("block", 0) == 0
    carried = carried and agree > 0
    outcome = "no_quorum" if not quorum_met else "passed" if carried else "failed"
    return Tally(outcome, shown, turnout, rules.electorate, quorum_met)


def _ranked(rules: Rules, rankings: list[tuple[int, ...]], turnout: int, quorum_met: bool) -> Tally:
    winner, rounds = instant_runoff(rules.options, rankings)
    counts = {f"option-{n}": rounds[0].get(n, 0) if rounds else 0 for n in range(1, rules.options + 1)}
    counts[ABSTAIN] = sum(1 for r in rankings if not r)
    outcome = "no_quorum" if not quorum_met else "passed" if winner is not None else "failed"
    return Tally(outcome, counts, turnout, rules.electorate, quorum_met, winner, tuple(rounds))


def instant_runoff(options: int, rankings: Sequence[Sequence[int]]) -> tuple[int | None, list[dict[int, int]]]:
    """The winner of instant runoff among options 1..``options``, and each round's count.

    Each round, every ballot counts for its highest-ranked option still in
    the count (a ballot with none left is exhausted). An option with more
    than half of the ballots still counting wins. Otherwise the option with
    the fewest votes is eliminated; among several with the fewest, the one
    with fewer votes in the latest earlier round where they differ, and if
    no round tells them apart, the one listed last. When every option still
    in the count has the same number of votes and no round tells them apart,
    there is no winner, and none when no ballot counts at all.
    """
    continuing = list(range(1, options + 1))
    rounds: list[dict[int, int]] = []
    # Identical rankings count together: a few hundred kinds among thousands of ballots.
    kinds = Counter(tuple(ranking) for ranking in rankings)
    while continuing:
        votes = dict.fromkeys(continuing, 0)
        for ranking, ballots in kinds.items():
            for n in ranking:
                if n in votes:
                    votes[n] += ballots
                    break
        rounds.append(votes)
        active = sum(votes.values())
        if active == 0:
            return None, rounds
        leader = max(continuing, key=lambda n: votes[n])
        if 2 * votes[leader] > active:
            return leader, rounds
        loser = _loser(continuing, rounds)
        if loser is None:
            return None, rounds
        continuing.remove(loser)
    return None, rounds  # pragma: no cover - a round with one option left always has a majority


def _loser(continuing: list[int], rounds: list[dict[int, int]]) -> int | None:
    """The option to eliminate (see ``instant_runoff``), or None for a tie nothing breaks."""
    fewest = min(rounds[-1][n] for n in continuing)
    tied = [n for n in continuing if rounds[-1][n] == fewest]
    for earlier in reversed(rounds[:-1]):
        if len(tied) == 1:
            break
        low = min(earlier[n] for n in tied)
        tied = [n for n in tied if earlier[n] == low]
    if len(tied) == 1:
        return tied[0]
    if len(tied) == len(continuing):
        return None
    return max(tied)


def receipt_hash(receipt: bytes) -> bytes:
    """What the receipts list shows of a voter's receipt."""
    return hashlib.sha256(b"mutualaid receipt\x00" + receipt).digest()


def receipts_digest(pairs: Iterable[tuple[bytes, Ballot]]) -> bytes:
    """SHA-256 of the receipts list: the canonical msgpack array of
    ``[receipt hash, ballot]`` pairs sorted by receipt hash (a ballot is its
    choice, or its ranking as an array of option numbers). A decision record
    carries it, so anyone holding the list can tell it is the one counted."""
    ordered = sorted(((bytes(h), b) for h, b in pairs), key=lambda pair: pair[0])
    rows: list[Value] = [[h, b if isinstance(b, str) else list[Value](b)] for h, b in ordered]
    return hashlib.sha256(encode(rows)).digest()
