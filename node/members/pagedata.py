"""What the web page reads from the node: its name, areas, categories and every limit its forms apply.

The page holds no copy of a limit, a list or a category: it reads them from
one JSON object the node writes into ``/`` (``<script type="application/json"
id="node-data">``, a data block the Content-Security-Policy does not run). The
object is made here, once at start-up, from the node's config and identity,
the chapter's ``Categories`` and the declarations the API itself reads
requests with (each ``Body``'s fields and their JSON Schemas, the search and
report parameters): a limit changed there reaches the page with no edit to
the JavaScript, and a test holds the page's form controls to these values.

A field's rules are the keywords of its schema a form can apply
(``maxLength``, ``minLength``, ``pattern``, ``enum``, ``minItems``, ``maxItems``,
``minimum``, ``maximum``, the ``items`` of a list) and whether it is
required; a nullable field or one that may also be empty (a flag's note) is
described by its one real branch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from crypto import NodeIdentity, public_key_to_text
from node.chapter import effects, proposals_api, roll_api
from node.chapter.settings import ChapterState
from node.core.bodies import Body, Variants
from node.core.config import NodeConfig
from node.core.params import Param
from node.members import api, events, findings, organizer, replies, report, terms
from protocol import recurrence
from protocol.ballots import CHOICES, THRESHOLDS
from protocol.records import DECISION_TYPES, POST_KINDS, TOMBSTONE_STATUSES
from storage.chapter.outreach import NOTE_DAYS

Rules = dict[str, Any]
_KEYWORDS = ("maxLength", "minLength", "pattern", "enum", "minItems", "maxItems", "minimum", "maximum")


def rules(schema: Mapping[str, Any]) -> Rules:
    """The keywords of a value's schema a form can apply (see the module's comment)."""
    branches = schema.get("anyOf")
    if branches is not None:
        real = [b for b in branches if b.get("type") != "null" and b.get("maxLength") != 0]
        if len(real) != 1:
            raise ValueError(f"a schema with {len(real)} real branches cannot be described to the page")
        return rules(real[0])
    out: Rules = {key: schema[key] for key in _KEYWORDS if key in schema}
    if "items" in schema:
        out["items"] = rules(schema["items"])
    return out


def form(body: Body) -> dict[str, Rules]:
    return {name: rules(f.schema) | ({"required": True} if f.required else {}) for name, f in body.fields.items()}


def query(params: Sequence[Param]) -> dict[str, Rules]:
    out: dict[str, Rules] = {}
    for param in params:
        one = rules(param.schema)
        if param.default is not None:
            one["default"] = param.default
        out[param.name] = one
    return out


def chapter_forms() -> dict[str, Any]:
    """The chapter's forms: joining, inviting, proposing (the fields every
    proposal has, and each type's effect by action), voting, commenting."""
    effect_forms: dict[str, Any] = {}
    for kind, effect in effects.EFFECTS.items():
        if isinstance(effect, Variants):
            effect_forms[kind] = {action: form(body) for action, body in effect.bodies.items()}
        elif effect is not None:
            effect_forms[kind] = {"set": form(effect)}
    return {
        "join": form(roll_api.JOIN_BODY),
        "invite": form(roll_api.INVITE_BODY),
        "proposal": form(proposals_api.PROPOSAL_BODY.bodies["text"]),
        "effects": effect_forms,
        "ballot": form(proposals_api.BALLOT_BODY),
        "comment": form(proposals_api.COMMENT_BODY),
    }


def page_data(config: NodeConfig, identity: NodeIdentity, state: ChapterState) -> dict[str, Any]:
    categories = state.categories
    forms = {
        **{kind: form(api.post_body(categories, kind)) for kind in POST_KINDS},
        "edit": form(api.edit_body(categories)),
        "status": form(api.STATUS_BODY),
        "reply": form(replies.REPLY_BODY),
        "flag": form(organizer.FLAG_BODY),
        "removal": form(organizer.REMOVAL_BODY),
        "search": query(api.SEARCH_PARAMS),
        "report": query(report.PARAMS),
        "organizer": query(organizer.LIMIT),
        "finding": form(findings.FINDING_BODY),
        "answer": form(findings.ANSWER_BODY),
        "findings": query(findings.LIST_PARAMS),
        "event": form(events.EVENT_BODY),
        "events": query(events.LIST_PARAMS),
        **chapter_forms(),
    }
    statuses = forms["status"]["status"]["enum"]
    return {
        "name": config.name,
        "key": public_key_to_text(identity.public_key),
        "public_key": identity.public_key.hex(),
        "areas": list(config.areas),
        "categories": categories.as_json(),
        "forms": forms,
        "urgencies": forms["need"]["urgency"]["enum"],
        "flag_reasons": forms["flag"]["reason"]["enum"],
        "statuses": statuses,
        "final_statuses": [s for s in statuses if s in TOMBSTONE_STATUSES],
        "post_days": terms.DEFAULT_TTL_DAYS,
        "replies_per_address": replies.MAX_REPLIES_PER_CLIENT,
        "report": {"default_weeks": state.int_setting("report_weeks"), "max_weeks": terms.MAX_WEEKS},
        "note_days": NOTE_DAYS,
        "recurrence": {
            "frequencies": list(recurrence.FREQUENCIES),
            "days": list(recurrence.DAYS),
            "max_interval": recurrence.MAX_INTERVAL,
            "max_occurrences": recurrence.MAX_OCCURRENCES,
        },
        "chapter": {
            "founding": state.founding,
            "settings": dict(state.settings),
            "types": list(DECISION_TYPES),
            "thresholds": list(THRESHOLDS),
            "choices": list(CHOICES),
        },
    }


def script_text(data: Mapping[str, Any]) -> bytes:
    """The data as the text of a ``<script type="application/json">`` element: JSON
    with ``<``, ``>`` and ``&`` escaped, so no member-chosen text (a chapter's
    name) can end the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()
