// #/p/{id} : one proposal. What it would change, who proposed it and its
// rules (threshold, quorum, secret or open ballot); who may vote and who has
// (names, never choices); my ballot with the vote form (the choices the
// proposal offers, or its options to put in order), which I may change until
// it closes; the comments. Once closed: the outcome and the counts, the
// receipts list with my own receipt marked ("this is your ballot"), the
// turnout list, and for an open ballot each name beside its choice.
import { rule } from "./api.js?v=__V__";
import { t, tn } from "./i18n.js?v=__V__";
import "./i18n-chapter.js?v=__V__"; // this view's strings
import { append, errorText, field, h, notice } from "./dom.js?v=__V__";
import { clearInvalid, readOrMark, showRefusal } from "./forms.js?v=__V__";
import {
  asMember, ballotText, cardRefused, changeText, chapterNav, checkedText, choiceName, countsText, dateTime, fromNow, getCard, needCard,
} from "./chapter.js?v=__V__";

export async function show(main, route, flash) {
  main.append(chapterNav("proposals"));
  if (!getCard()) {
    main.append(h("h1", {}, t("p.title")));
    needCard(main, () => show(main, route));
    return;
  }
  let p, me;
  try {
    [{ proposal: p }, { member: me }] = await Promise.all([asMember("GET", `/proposals/${route.id}`), asMember("GET", "/members/me")]);
  } catch (err) {
    main.append(h("h1", {}, t("p.title")));
    if (cardRefused(err)) needCard(main, () => show(main, route), err);
    else main.append(notice(errorText(err), "error"), h("p", {}, h("a", { href: "#/proposals" }, t("ch.nav.proposals"))));
    return;
  }
  const again = (message) => {
    main.replaceChildren();
    return show(main, route, message);
  };
  const open = p.state === "open";
  append(main, [
    h("p", { class: "badges" },
      h("span", { class: "badge kind" }, t(`ptype.${p.type}`)),
      open ? h("span", { class: "badge open" }, t("p.stateOpen"))
        : h("span", { class: `badge outcome ${p.result ? p.result.outcome : ""}` }, p.result ? t(`outcome.${p.result.outcome}`) : t("p.counting"))),
    h("h1", { dir: "auto" }, p.title),
    h("p", { class: "change" }, changeText(p.type, p.effect, p.member_name)),
    p.text ? h("p", { class: "details", dir: "auto" }, p.text) : null,
    h("dl", {},
      h("dt", {}, t("p.proposer")), h("dd", { dir: "auto" }, p.proposer || ""),
      h("dt", {}, t("p.opened")), h("dd", {}, dateTime(p.opened_at)),
      open ? [h("dt", {}, t("p.closesAt")), h("dd", {}, `${dateTime(p.closes_at)} (${fromNow(p.closes_at)})`)] : null,
      h("dt", {}, t("p.threshold")), h("dd", {}, t(`threshold.${p.threshold}.long`)),
      h("dt", {}, t("p.quorum")), h("dd", {}, t("p.quorumOf", { quorum: p.quorum })),
      h("dt", {}, t("p.ballot")), h("dd", {}, t(`ballot.${p.ballot}`)),
    ),
    flash ? notice(flash, "ok") : null,
  ]);
  if (open) main.append(voteSection(p, me, again));
  else main.append(resultSection(p));
  main.append(turnoutSection(p, me));
  if (!open) main.append(receiptsSection(p));
  if (!open && p.open_ballots) main.append(openBallotsSection(p));
  main.append(commentsSection(p, again));
}

function voteSection(p, me, again) {
  const s = h("section", { "aria-labelledby": "vote-title" }, h("h2", { id: "vote-title" }, t("p.yourVote")));
  s.append(h("p", {}, t("p.turnout", { voted: p.voted, electorate: p.electorate }), " · ", t("p.closes", { when: fromNow(p.closes_at) })));
  if (!p.you.in_electorate) {
    s.append(notice(t("p.notInElectorate")));
    return s;
  }
  if (p.you.locked) {
    s.append(notice(t("error.ballot_locked")));
    return s;
  }
  if (p.my_ballot) {
    s.append(h("p", { class: "my-ballot" }, t("p.myVote", { vote: ballotText(p.my_ballot, p.options) }), " ", t("p.canChange")),
      h("p", { class: "receipt" }, t("p.receipt"), " ", h("span", { class: "hash" }, p.my_ballot.receipt_hash)));
  } else s.append(h("p", {}, t("p.notVoted")));
  const status = h("div");
  const send = async (form, body, button) => {
    status.replaceChildren();
    button.disabled = true;
    try {
      const answer = await asMember("POST", `/proposals/${p.id}/ballots`, { body });
      await again(answer.changed ? t("p.changed") : t("p.counted"));
    } catch (err) {
      button.disabled = false;
      showRefusal(form, status, err);
    }
  };
  s.append(p.method === "ranked" ? rankingForm(p, send) : choiceForm(p, send), status);
  return s;
}

function choiceForm(p, send) {
  const current = p.my_ballot && p.my_ballot.choice;
  const form = h("form", { class: "vote" },
    h("fieldset", {}, h("legend", {}, t("p.choose")),
      p.choices.map((c) => h("label", { class: "choice" },
        h("input", { type: "radio", name: "choice", value: c, checked: c === current, required: true }), " ",
        h("strong", {}, choiceName(c)), h("span", { class: "hint" }, " ", t(`choice.${c}.hint`))))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t(p.my_ballot ? "p.change" : "p.vote"))),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = form.elements.choice.value;
    if (!chosen) {
      form.querySelector("input[name=choice]").focus();
      return;
    }
    send(form, { choice: chosen }, form.querySelector("button[type=submit]"));
  });
  return form;
}

// Ranked choice: the options in my order, each with "up", "down" and "leave
// out" buttons, and the options left out, each with "rank" (the keyboard and
// a screen reader can do it all; a status line says what moved where).
function rankingForm(p, send) {
  const all = p.options.map((_, i) => i + 1);
  const order = p.my_ballot && p.my_ballot.ranking && p.my_ballot.ranking.length ? [...p.my_ballot.ranking] : [...all];
  const list = h("ol", { class: "ranking" });
  const left = h("ul", { class: "ranking-out" });
  const moved = h("p", { class: "sr-only", role: "status" });
  const draw = (focus) => {
    list.replaceChildren(...order.map((n, i) => {
      const name = p.options[n - 1];
      const up = h("button", { type: "button", class: "secondary", disabled: i === 0, "aria-label": t("p.moveUp", { option: name }) }, "↑");
      const down = h("button", { type: "button", class: "secondary", disabled: i === order.length - 1, "aria-label": t("p.moveDown", { option: name }) }, "↓");
      const out = h("button", { type: "button", class: "secondary", "aria-label": t("p.leaveOut", { option: name }) }, "✕");
      const swap = (j, which) => {
        [order[i], order[j]] = [order[j], order[i]];
        moved.textContent = t("p.moved", { option: name, place: j + 1 });
        draw({ n, which });
      };
      up.addEventListener("click", () => swap(i - 1, "up"));
      down.addEventListener("click", () => swap(i + 1, "down"));
      out.addEventListener("click", () => {
        order.splice(i, 1);
        moved.textContent = t("p.leftOut", { option: name });
        draw({ n, which: "rank" });
      });
      return h("li", { "data-option": n }, h("div", { class: "rank-row" }, h("span", { class: "option", dir: "auto" }, name), h("span", { class: "move" }, up, down, out)));
    }));
    const omitted = all.filter((n) => !order.includes(n));
    left.replaceChildren(...omitted.map((n) => {
      const name = p.options[n - 1];
      const rank = h("button", { type: "button", class: "secondary", "aria-label": t("p.rankAgain", { option: name }) }, t("p.rank"));
      rank.addEventListener("click", () => {
        order.push(n);
        moved.textContent = t("p.moved", { option: name, place: order.length });
        draw({ n, which: "down" });
      });
      return h("li", { "data-option": n }, h("span", { class: "option", dir: "auto" }, name), " ", rank);
    }));
    leftBox.hidden = omitted.length === 0;
    if (focus) { // the moved option keeps the focus where it went
      const buttons = [...list.querySelectorAll(`li[data-option="${focus.n}"] button`), ...left.querySelectorAll(`li[data-option="${focus.n}"] button`)];
      const enabled = buttons.filter((b) => !b.disabled);
      const wanted = focus.which === "up" ? enabled[0] : enabled[Math.min(1, enabled.length - 1)];
      if (wanted) wanted.focus();
    }
  };
  const leftBox = h("div", { class: "ranking-left" }, h("p", {}, t("p.notRanked")), left);
  draw();
  const vote = h("button", { type: "submit" }, t(p.my_ballot ? "p.changeRanking" : "p.voteRanking"));
  const abstain = h("button", { type: "button", class: "secondary" }, t("p.abstainRanking"));
  const form = h("form", { class: "vote" },
    h("p", { id: "ranking-hint" }, t("p.rankingHint")), list, leftBox, moved,
    h("div", { class: "actions" }, vote, abstain));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(form, { ranking: [...order] }, vote);
  });
  abstain.addEventListener("click", () => send(form, { ranking: [] }, abstain));
  return form;
}

function resultSection(p) {
  const r = p.result;
  const s = h("section", { "aria-labelledby": "result-title" }, h("h2", { id: "result-title" }, t("p.result")));
  if (!r) {
    s.append(h("p", {}, t("p.counting")));
    return s;
  }
  s.append(
    h("p", { class: `outcome ${r.outcome}` }, t(`outcome.${r.outcome}.long`)),
    h("dl", {},
      h("dt", {}, t("p.counts")), h("dd", {}, countsText(r.counts, p.options)),
      h("dt", {}, t("p.turnoutLabel")), h("dd", {}, t("p.turnoutOf", { voted: r.turnout, electorate: r.electorate })),
      h("dt", {}, t("p.quorum")), h("dd", {}, t(r.quorum_met ? "p.quorumMet" : "p.quorumMissed", { quorum: p.quorum })),
      r.winner ? [h("dt", {}, t("p.winner")), h("dd", { dir: "auto" }, p.options[r.winner - 1] || String(r.winner))] : null,
      p.applied ? [h("dt", {}, t("p.applied")), h("dd", {}, appliedText(p.applied))] : null,
    ),
  );
  if (r.rounds && r.rounds.length) {
    s.append(h("table", {}, h("caption", {}, t("p.rounds")),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("p.option")), r.rounds.map((_, i) => h("th", { scope: "col" }, t("p.round", { n: i + 1 }))))),
      h("tbody", {}, p.options.map((o, i) => h("tr", {}, h("th", { scope: "row", dir: "auto" }, o),
        r.rounds.map((round) => h("td", {}, round[String(i + 1)] === undefined ? "–" : String(round[String(i + 1)]))))))));
  }
  return s;
}

function appliedText(applied) {
  if (applied === "done") return t("p.appliedDone");
  if (applied === "none") return t("p.appliedNone");
  return t("p.appliedFailed");
}

function turnoutSection(p, me) {
  const voted = p.electorate_names.filter((e) => e.voted).length;
  return h("section", { "aria-labelledby": "turnout-title" },
    h("h2", { id: "turnout-title" }, t("p.whoVotes")),
    h("p", {}, t("p.turnoutOf", { voted, electorate: p.electorate_names.length }), " ", t("p.namesOnly")),
    h("ul", { class: "electorate" }, p.electorate_names.map((e) => h("li", { class: e.voted ? "voted" : "waiting" },
      h("span", { dir: "auto" }, e.name), p.you.in_electorate && e.name === me.name ? ` (${t("p.you")})` : "", " · ", t(e.voted ? "p.hasVoted" : "p.hasNotVoted")))));
}

// Every counted ballot by its receipt's fingerprint; mine is marked.
function receiptsSection(p) {
  const mine = p.my_ballot && p.my_ballot.receipt_hash;
  const list = h("ol", { class: "receipts" }, (p.receipts || []).map((r) => {
    const isMine = r.hash === mine;
    return h("li", { class: isMine ? "mine" : null, "aria-current": isMine ? "true" : null },
      h("span", { class: "hash" }, r.hash), " ",
      h("span", { class: "ballot", dir: "auto" }, ballotText(r, p.options)),
      isMine ? h("strong", { class: "yours" }, t("p.yourBallot")) : null);
  }));
  return h("section", { "aria-labelledby": "receipts-title" },
    h("h2", { id: "receipts-title" }, t("p.receipts")),
    h("p", {}, t("p.receiptsLead")),
    mine ? h("p", {}, t("p.yourReceipt"), " ", h("span", { class: "hash" }, mine)) : h("p", {}, t("p.noReceipt")),
    list,
    p.receipts_digest ? h("p", { class: "facts" }, t("p.digest"), " ", h("span", { class: "hash digest" }, p.receipts_digest)) : null);
}

function openBallotsSection(p) {
  return h("section", { "aria-labelledby": "open-ballots-title" },
    h("h2", { id: "open-ballots-title" }, t("p.openBallots")),
    h("ul", { class: "open-ballots" }, p.open_ballots.map((b) => h("li", {}, h("span", { dir: "auto" }, b.name), " · ", ballotText(b, p.options)))));
}

function commentsSection(p, again) {
  const s = h("section", { "aria-labelledby": "comments-title" }, h("h2", { id: "comments-title" }, tn("p.comments", p.comments.length)));
  if (p.comments.length) {
    s.append(h("ul", { class: "reply-list" }, p.comments.map((c) => h("li", { class: "reply-item" },
      h("p", { class: "when" }, h("strong", { dir: "auto" }, c.name), " · ", dateTime(c.at)),
      h("p", { class: "message", dir: "auto" }, c.text)))));
  }
  if (p.state !== "open") return s;
  const spec = rule("comment", "text");
  const text = h("textarea", { name: "text", rows: 3, maxlength: spec.maxLength, required: true });
  const status = h("div");
  const form = h("form", { class: "comment", novalidate: true },
    field(t("p.comment"), text, t("p.commentHint")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("p.addComment"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearInvalid(form);
    status.replaceChildren();
    const value = readOrMark(() => checkedText(text, spec, t("p.comment")), () => text);
    if (value === null) return;
    try {
      await asMember("POST", `/proposals/${p.id}/comments`, { body: { text: value } });
      await again(t("p.commented"));
    } catch (err) {
      showRefusal(form, status, err);
    }
  });
  s.append(form, status);
  return s;
}
