"""Counters for ``GET /metrics`` in the Prometheus text format.

Counters are labelled by small fixed sets (kind, status, reason, HTTP status
class), never by anything a member typed, so the label space stays bounded.
"""

from __future__ import annotations

from collections import Counter

_HELP = {
    "mutualaid_records": ("gauge", "Live records held, by kind and status."),
    "mutualaid_records_posted_total": ("counter", "Records posted by members through this node."),
    "mutualaid_http_requests_total": ("counter", "HTTP requests answered, by status class."),
    "mutualaid_peers": ("gauge", "Configured peers, by link state."),
    "mutualaid_records_received_total": ("counter", "Records received from peers, by outcome."),
    "mutualaid_records_rejected_total": ("counter", "Records refused, by reason."),
    "mutualaid_sync_sessions_total": ("counter", "Reconciliation sessions run as initiator."),
    "mutualaid_sync_rounds_total": ("counter", "Reconciliation round trips run as initiator."),
    "mutualaid_gossip_link_changes_total": (
        "counter",
        "Links turned lazy (change=prune: they brought only copies; change=untree: off the spanning tree)"
        " or eager (change=graft: a reconciliation moved records; change=tree: on the spanning tree).",
    ),
    "mutualaid_peer_bytes_in_total": ("counter", "Peer protocol body bytes received."),
    "mutualaid_signature_verify_microseconds_total": (
        "counter",
        "CPU time spent verifying signatures of records and peer requests.",
    ),
    "mutualaid_found_peer_links": ("gauge", "Links to peers found by mDNS or peer exchange."),
    "mutualaid_peer_candidates": ("gauge", "Found peers remembered as candidates (bounded)."),
    "mutualaid_mdns_dropped_total": ("counter", "mDNS announcements dropped: the resolve queue was full."),
    "mutualaid_mdns_announcements_total": ("counter", "Valid mDNS announcements of other nodes heard."),
    "mutualaid_peer_bytes_out_total": ("counter", "Peer protocol body bytes sent."),
    "mutualaid_backups_made_total": ("counter", "Daily backups the node wrote (backup_daily_keep)."),
    "mutualaid_backup_failures_total": ("counter", "Daily backups that failed; the log says why."),
    "mutualaid_backup_failures_in_a_row": ("gauge", "Daily backups failed since the last one that was written."),
    "mutualaid_backup_last_made_seconds": ("gauge", "Unix time of the newest daily backup held."),
    "mutualaid_bundles_imported_total": ("counter", "Bundles of records taken in through the operator's API."),
}


Series = dict[tuple[str, tuple[tuple[str, str], ...]], int]


class Metrics:
    def __init__(self) -> None:
        self._counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def count(self, name: str, amount: int = 1, **labels: str) -> None:
        self._counters[(f"mutualaid_{name}", tuple(sorted(labels.items())))] += amount

    def render(self, gauges: Series) -> str:
        series = dict(self._counters) | gauges
        lines: list[str] = []
        for name in sorted({name for name, _ in series} | set(_HELP)):
            kind, text = _HELP.get(name, ("counter", name))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            for (series_name, labels), value in sorted(series.items()):
                if series_name == name:
                    label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                    lines.append(f"{name}{{{label_text}}} {value}" if labels else f"{name} {value}")
        return "\n".join(lines) + "\n"
