// #/me : my card. Who I am on the roll (name, when I joined, who invited me,
// an organizer mandate if I hold one), my card again as a QR code, invite
// someone (codes left this week; a code with its join link), replace my card,
// sign out of this device, leave the chapter. Without a card on this device:
// a form to enter one, and a link to join.
// #/card/{card} (a scanned QR code) signs this device in: the card is dropped
// from the address bar at once (history.replaceState) and the view is #/me.
import { api } from "./api.js?v=__V__";
import { t, tn } from "./i18n.js?v=__V__";
import "./i18n-chapter.js?v=__V__"; // this view's strings
import { append, copyText, date, errorText, field, h, notice } from "./dom.js?v=__V__";
import {
  asMember, cardBox, cardRefused, chapterNav, confirmFirst, forgetCard, getCard, needCard, qrImage, setCard,
} from "./chapter.js?v=__V__";

export async function show(main, route) {
  if (route.card) {
    history.replaceState(null, "", "#/me"); // the card never stays in the address bar or the history
    let opened;
    try {
      opened = await api("GET", "/members/me", { token: route.card });
    } catch (err) {
      main.append(chapterNav("me"), h("h1", {}, t("me.title")));
      needCard(main, () => show(main, {}), err);
      return;
    }
    const kept = getCard();
    if (kept && kept !== route.card && !(await askToReplace(main, kept, opened.member.name))) return;
    setCard(route.card);
  }
  main.append(chapterNav("me"), h("h1", {}, t("me.title")));
  if (!getCard()) {
    needCard(main, () => show(main, {}));
    return;
  }
  let me;
  try {
    me = await asMember("GET", "/members/me");
  } catch (err) {
    if (cardRefused(err)) needCard(main, () => show(main, {}), err);
    else main.append(notice(errorText(err), "error"));
    return;
  }
  const m = me.member;
  const mandate = me.mandate
    ? t("me.mandateUntil", { date: date(me.mandate.ends_at) })
    : t("me.noMandate");
  append(main, [
    h("dl", { class: "me" },
      h("dt", {}, t("me.name")), h("dd", { dir: "auto" }, m.name),
      h("dt", {}, t("me.joined")), h("dd", {}, date(m.joined_at)),
      h("dt", {}, t("me.invitedBy")), h("dd", { dir: "auto" }, m.invited_by ? m.invited_by.name : t("me.founding")),
      h("dt", {}, t("me.mandate")), h("dd", {}, mandate),
    ),
    me.mandate ? h("p", {}, h("a", { href: "#/organizer" }, t("me.toOrganizer"))) : null,
  ]);
  const card = getCard();
  const qr = await qrImage(card);
  const showText = h("details", { class: "cardtext" }, h("summary", {}, t("me.showText")), h("p", { class: "card-text" }, card));
  const print = h("button", { type: "button", class: "secondary" }, t("card.print"));
  print.addEventListener("click", () => window.print());
  main.append(
    h("section", { class: "member-card", "aria-labelledby": "my-card" },
      h("h2", { id: "my-card" }, t("me.cardTitle")),
      qr, h("p", {}, t("me.qrHint")), showText, h("p", { class: "important" }, t("card.holder")),
      h("p", { class: "actions no-print" }, print),
    ),
    inviteSection(me),
    replaceSection(main),
    signOutSection(main),
    leaveSection(main),
  );
}

function inviteSection(me) {
  const left = h("p", { role: "status" }, tn("me.invitesLeft", me.invites_left));
  const make = h("button", { type: "button", disabled: me.invites_left < 1 }, t("me.makeInvite"));
  const out = h("div");
  let count = me.invites_left;
  make.addEventListener("click", async () => {
    make.disabled = true;
    try {
      const answer = await asMember("POST", "/invites", { body: {} });
      count -= answer.invites.length;
      left.textContent = tn("me.invitesLeft", Math.max(count, 0));
      for (const invite of answer.invites) out.prepend(inviteBox(invite));
    } catch (err) {
      out.prepend(notice(errorText(err), "error"));
    } finally {
      make.disabled = count < 1;
    }
  });
  return h("section", { class: "no-print", "aria-labelledby": "invite-title" },
    h("h2", { id: "invite-title" }, t("me.invite")),
    h("p", {}, t("me.inviteLead")), left, h("p", { class: "actions" }, make), out);
}

function inviteBox(invite) {
  const link = `${location.origin}/#/join/${invite.code}`;
  const box = h("input", { readonly: true, value: link, class: "link" });
  const copied = h("span", { role: "status", class: "copied" });
  const copy = h("button", { type: "button", class: "secondary" }, t("me.copyLink"));
  copy.addEventListener("click", async () => {
    copied.textContent = (await copyText(box)) ? t("card.copied") : t("card.copyFailed");
  });
  return h("div", { class: "invite" },
    h("p", {}, t("me.code"), " ", h("strong", { class: "code" }, invite.code), " · ", t("me.validUntil", { date: date(invite.expires_at) })),
    field(t("me.joinLink"), box, t("me.joinLinkHint")),
    h("p", { class: "actions" }, copy, " ", copied));
}

// A section with one action that asks first.
function actionSection(id, title, lead, label, question, yes, go, danger) {
  const button = h("button", { type: "button", class: danger ? "danger" : "secondary" }, label);
  const row = h("div", { class: "actions" }, button);
  const status = h("div");
  button.addEventListener("click", () => confirmFirst(row, button, question, yes, () => go(status), danger));
  return h("section", { class: "no-print", "aria-labelledby": id }, h("h2", { id }, title), h("p", {}, lead), row, status);
}

function replaceSection(main) {
  return actionSection("replace-title", t("me.replace"), t("me.replaceLead"), t("me.replaceButton"), t("me.replaceAsk"), t("me.replaceYes"),
    async (status) => {
      try {
        const answer = await asMember("POST", "/members/me/card");
        setCard(answer.card);
        main.replaceChildren(chapterNav("me"), h("h1", { tabindex: "-1" }, t("me.replaced")), h("p", { class: "lead" }, t("me.replacedLead")), await cardBox(answer.card),
          h("p", { class: "no-print" }, h("a", { href: "#/proposals" }, t("join.toProposals"))));
        main.querySelector("h1").focus();
      } catch (err) {
        status.replaceChildren(notice(errorText(err), "error"));
      }
    });
}

function signOutSection(main) {
  return actionSection("signout-title", t("me.signOut"), t("me.signOutLead"), t("me.signOutButton"), t("me.signOutAsk"), t("me.signOutYes"),
    async () => {
      forgetCard();
      main.replaceChildren(chapterNav("me"), h("h1", { tabindex: "-1" }, t("me.title")), notice(t("me.signedOut"), "ok"));
      needCard(main, () => show(main, {}));
      main.querySelector("h1").focus();
    });
}

function leaveSection(main) {
  return actionSection("leave-title", t("me.leave"), t("me.leaveLead"), t("me.leaveButton"), t("me.leaveAsk"), t("me.leaveYes"),
    async (status) => {
      try {
        await asMember("DELETE", "/members/me");
        forgetCard();
        main.replaceChildren(h("h1", { tabindex: "-1" }, t("me.left")), h("p", {}, t("me.leftLead")), h("p", {}, h("a", { href: "#/" }, t("nav.browse"))));
        main.querySelector("h1").focus();
      } catch (err) {
        status.replaceChildren(notice(errorText(err), "error"));
      }
    }, true);
}

// A link with another card than the one this device keeps (someone sent
// theirs, or a second member on a shared device): never replaced silently,
// or the member holding this device would vote as someone else. Resolves
// true to replace; false keeps the card and shows its page.
async function askToReplace(main, kept, newName) {
  let keptName = "";
  try {
    keptName = (await api("GET", "/members/me", { token: kept })).member.name;
  } catch {
    return true; // the card kept here no longer works: nothing to lose
  }
  main.append(chapterNav("me"), h("h1", {}, t("me.title")));
  return new Promise((resolve) => {
    const row = h("p", {}, t("me.otherCard", { kept: keptName, other: newName }));
    const button = h("button", { type: "button" }, t("me.replaceWith", { other: newName }));
    const keep = h("button", { type: "button", class: "secondary" }, t("me.keep", { kept: keptName }));
    const box = h("div", { class: "actions wrap" }, button, keep);
    button.addEventListener("click", () => {
      main.replaceChildren();
      resolve(true);
    });
    keep.addEventListener("click", () => {
      main.replaceChildren();
      show(main, {});
      resolve(false);
    });
    main.append(notice(t("me.otherCardWarning")), row, box);
    keep.focus();
  });
}
