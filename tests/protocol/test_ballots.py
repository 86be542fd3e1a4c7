"""The count (protocol/ballots.py): the tally against a reference count written
the plain way, instant runoff against hand-worked elections, the ballot rules
and the receipts digest."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.ballots import (
    CHOICES,
    THRESHOLDS,
    BallotInvalid,
    Rules,
    check_ballot,
    instant_runoff,
    receipts_digest,
    tally,
)


def reference(rules: Rules, ballots: list[str]) -> str:
    """The rules of docs/CHAPTER.md, spelt out one by one."""
    counts = Counter(ballots)
    if len(ballots) * 100 < rules.quorum * rules.electorate:
        return "no_quorum"
    if counts["agree"] == 0:
        return "failed"
    if rules.threshold == "majority":
        return "passed" if counts["agree"] > counts["disagree"] else "failed"
    if rules.threshold == "two_thirds":
        took_a_side = counts["agree"] + counts["disagree"]
        return "passed" if 3 * counts["agree"] >= 2 * took_a_side else "failed"
    return "failed" if counts["block"] else "passed"


@st.composite
def elections(draw: st.DrawFn) -> tuple[Rules, list[str]]:
    threshold = draw(st.sampled_from(THRESHOLDS))
    electorate = draw(st.integers(0, 40))
    rules = Rules("choice", threshold, draw(st.integers(0, 100)), electorate)
    ballots = draw(st.lists(st.sampled_from(rules.choices()), max_size=electorate))
    return rules, ballots


@settings(max_examples=2000, deadline=None)
@given(elections())
def test_the_tally_is_the_reference_count(election: tuple[Rules, list[str]]) -> None:
    rules, ballots = election
    result = tally(rules, ballots)
    assert result.outcome == reference(rules, ballots)
    assert result.turnout == len(ballots) == sum(result.counts.values())
    assert result.counts == {c: ballots.count(c) for c in rules.choices()}


@settings(max_examples=500, deadline=None)
@given(elections(), st.randoms(use_true_random=False))
def test_the_order_of_the_ballots_does_not_matter(election: tuple[Rules, list[str]], rng: Any) -> None:
    rules, ballots = election
    shuffled = list(ballots)
    rng.shuffle(shuffled)
    assert tally(rules, shuffled) == tally(rules, ballots)


@pytest.mark.parametrize(
    ("threshold", "ballots", "outcome"),
    [
        ("majority", ["agree", "agree", "disagree"], "passed"),
        ("majority", ["agree", "disagree"], "failed"),  # a tie does not carry
        ("majority", ["abstain", "abstain", "abstain", "agree"], "passed"),  # abstentions take no side
        ("majority", ["abstain", "abstain"], "failed"),  # nobody agreed
        ("two_thirds", ["agree", "agree", "disagree"], "passed"),
        ("two_thirds", ["agree", "disagree"], "failed"),
        ("two_thirds", ["agree", "agree", "disagree", "disagree", "agree"], "failed"),  # 3 of 5 is under 2/3
        ("consent", ["agree", "disagree", "disagree"], "passed"),  # disagree: stand aside
        ("consent", ["agree", "agree", "agree", "block"], "failed"),
    ],
)
def test_thresholds_by_hand(threshold: str, ballots: list[str], outcome: str) -> None:
    assert tally(Rules("choice", threshold, 0, 10), ballots).outcome == outcome


def test_the_quorum_counts_abstentions_and_is_a_share_of_the_electorate() -> None:
    rules = Rules("choice", "majority", 50, 10)
    assert tally(rules, ["agree"] * 4).outcome == "no_quorum"
    assert tally(rules, ["agree"] * 4 + ["abstain"]).outcome == "passed"  # 5 of 10 is half
    assert tally(Rules("choice", "majority", 34, 3), ["agree"]).outcome == "no_quorum"  # 33.3% < 34%


def test_ballots_are_checked_against_the_proposals_rules() -> None:
    majority = Rules("choice", "majority", 0, 5)
    assert check_ballot(majority, "agree") == "agree"
    with pytest.raises(BallotInvalid):
        check_ballot(majority, "block")  # only under consent
    assert check_ballot(Rules("choice", "consent", 0, 5), "block") == "block"
    with pytest.raises(BallotInvalid):
        check_ballot(majority, (1, 2))
    ranked = Rules("ranked", "majority", 0, 5, options=3)
    assert check_ballot(ranked, (3, 1)) == (3, 1)
    assert check_ballot(ranked, "abstain") == ()
    for bad in [(0,), (4,), (1, 1), (True,), "agree"]:
        with pytest.raises(BallotInvalid):
            check_ballot(ranked, bad)  # type: ignore[arg-type]


# --- instant runoff, by hand ---------------------------------------------------------


def test_a_first_round_majority_wins_at_once() -> None:
    winner, rounds = instant_runoff(3, [(1,), (1,), (1,), (2,), (3,)])
    assert winner == 1 and rounds == [{1: 3, 2: 1, 3: 1}]


def test_transfers_decide_when_no_one_has_a_majority() -> None:
    # 1: 4 first preferences, 2: 3, 3: 2 (whose voters prefer 2 next).
    ballots = [(1,)] * 4 + [(2, 1)] * 3 + [(3, 2)] * 2
    winner, rounds = instant_runoff(3, ballots)
    assert rounds[0] == {1: 4, 2: 3, 3: 2}
    assert rounds[1] == {1: 4, 2: 5}  # 3 eliminated, its 2 votes go to 2
    assert winner == 2


def test_exhausted_ballots_leave_the_count() -> None:
    # 3's voters rank nothing else: after 3 goes, 5 of 7 ballots still count.
    ballots = [(1,)] * 3 + [(2,)] * 2 + [(3,)] * 2
    winner, rounds = instant_runoff(3, ballots)
    assert rounds[0] == {1: 3, 2: 2, 3: 2}
    # 2 and 3 tie on the fewest; no earlier round tells them apart: the one listed last (3) goes.
    assert rounds[1] == {1: 3, 2: 2}
    assert winner == 1  # 3 of the 5 still counting


def test_a_tie_on_the_fewest_is_broken_by_the_round_before() -> None:
    # Round 1: 1=4, 2=3, 3=3, 4=1 -> 4 goes, its voter prefers 3: round 2: 1=4, 2=3, 3=4.
    # 2 has the fewest. Round 3: 2's voters prefer 1: 1=7 wins.
    ballots = [(1,)] * 4 + [(2, 1)] * 3 + [(3,)] * 3 + [(4, 3)]
    winner, rounds = instant_runoff(4, ballots)
    assert rounds[:2] == [{1: 4, 2: 3, 3: 3, 4: 1}, {1: 4, 2: 3, 3: 4}]
    assert winner == 1
    # Backwards tie-break: 2 and 3 tie at 2 now, but 2 had fewer the round before, so 2 goes.
    ballots = [(1,)] * 5 + [(2, 1)] * 2 + [(3, 2)] * 2 + [(4, 2)] + [(5, 3)]
    winner, rounds = instant_runoff(5, ballots)
    assert rounds[0] == {1: 5, 2: 2, 3: 2, 4: 1, 5: 1}
    assert rounds[1] == {1: 5, 2: 2, 3: 3, 4: 1}  # 4 and 5 tied, 5 (listed last) went; 5 -> 3
    assert rounds[2] == {1: 5, 2: 3, 3: 3}  # 4 went, its voter -> 2
    # 2 and 3 tie at 3; the round before, 2 had 2 and 3 had 3: 2 goes. Its voters go to 1,
    # but 4's voter ranked only 4 and 2: that ballot is exhausted.
    assert rounds[3] == {1: 7, 3: 3} and winner == 1


def test_a_tie_nothing_breaks_has_no_winner() -> None:
    assert instant_runoff(2, [(1,), (2,)]) == (None, [{1: 1, 2: 1}])
    assert instant_runoff(3, [])[0] is None  # nobody ranked anything


def test_a_ranked_proposal_reports_first_preferences_and_abstentions() -> None:
    rules = Rules("ranked", "majority", 50, 4, options=2)
    result = tally(rules, [(2, 1), (2,), (), (1,)])
    assert result.counts == {"option-1": 1, "option-2": 2, "abstain": 1}
    assert result.winner == 2 and result.outcome == "passed" and result.turnout == 4
    assert tally(rules, [()]).outcome == "no_quorum"


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.permutations(range(1, n + 1)).flatmap(
    lambda order: st.integers(0, n).map(lambda k: tuple(order[:k]))), max_size=30))))  # fmt: skip
def test_instant_runoff_always_ends_with_a_majority_or_a_true_tie(election: tuple[int, list[tuple[int, ...]]]) -> None:
    options, ballots = election
    winner, rounds = instant_runoff(options, ballots)
    last = rounds[-1]
    active = sum(last.values())
    if winner is not None:
        assert 2 * last[winner] > active
    else:
        assert active == 0 or len(set(last.values())) == 1


def test_the_receipts_digest_ignores_order_but_not_content() -> None:
    pairs: list[tuple[bytes, Any]] = [(bytes([i]) * 32, c) for i, c in enumerate(CHOICES)]
    assert receipts_digest(pairs) == receipts_digest(list(reversed(pairs)))
    changed = [*pairs[:-1], (pairs[-1][0], "agree")]
    assert receipts_digest(changed) != receipts_digest(pairs)
    assert receipts_digest([(b"\x01" * 32, (2, 1))]) != receipts_digest([(b"\x01" * 32, (1, 2))])
