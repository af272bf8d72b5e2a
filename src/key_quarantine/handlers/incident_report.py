"""An incident as one self-contained HTML page: the verdict, what was changed and how to undo it, a timeline of the
key's and its sessions' calls, the derived principals and what the quarantine policy still allowed.

No scripts, fonts or images from anywhere: the page opens from S3 or from a laptop with the network closed. It is
built from the evidence document only (what the responder wrote), so ``key-quarantine report`` draws the same page.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from key_quarantine.data import quarantine_denied_actions
from key_quarantine.handlers import role_revocation
from key_quarantine.handlers.settings import CONTAINMENT_POLICY_NAME
from key_quarantine.handlers.timestamps import parse_time

CHART_WIDTH = 960
LABEL_WIDTH = 220
LANE_HEIGHT = 30
AXIS_HEIGHT = 34
SIGNAL_COLOUR = "#d62728"
CONTAINMENT_COLOUR = "#2ca02c"
SERVICE_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1b1b1b;max-width:1100px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.verdict{font-size:18px;font-weight:600;padding:10px 14px;border-radius:6px;margin:12px 0}
.contained{background:#e7f6e7;border:1px solid #2ca02c} .open{background:#fdeaea;border:1px solid #d62728}
table{border-collapse:collapse;width:100%} td,th{border:1px solid #ddd;padding:4px 6px;text-align:left;
vertical-align:top;overflow-wrap:break-word} th{background:#f5f5f5}
code{font:12px ui-monospace,monospace;background:#f5f5f5;padding:1px 3px;word-break:break-all}
.muted{color:#666} svg text{font:11px system-ui,sans-serif}
"""


def render(evidence: Mapping[str, Any]) -> str:
    """The page for one incident's evidence document."""
    incident = str(evidence.get("incident_id", "?"))
    sections = [
        f"<h1>Incident {_e(incident)}</h1>",
        f'<p class="muted">{_e(_trigger(evidence).get("reason", ""))} · account '
        f"{_e(_trigger(evidence).get('account', '?'))} · user {_e(_user(evidence))}</p>",
        _verdict(evidence),
        _our_changes(evidence),
        "<h2>Timeline of the key's and its sessions' calls</h2>",
        timeline_svg(evidence),
        _principals(evidence),
        _trail_changes(evidence),
        _still_allowed(evidence),
        _coverage(evidence),
    ]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Incident {_e(incident)}: {_e(_verdict_text(evidence)[0])}</title>"
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


# --- the verdict and our own changes --------------------------------------------------------------------


def _containment_steps() -> tuple[Any, ...]:
    # imported here: the evidence step imports this module, and the registry imports the evidence step
    from key_quarantine.handlers.steps import CONTAINMENT_STEPS  # noqa: PLC0415

    return CONTAINMENT_STEPS


def undo_commands() -> dict[str, str | Callable[[str], str]]:
    """How to undo each of our own steps (the verdict's "what was changed"), as each step declares it."""
    from key_quarantine.handlers.steps import ALL_STEPS  # noqa: PLC0415 - see _containment_steps

    return {step.name: step.undo for step in ALL_STEPS if step.undo is not None}


def _verdict_text(evidence: Mapping[str, Any]) -> tuple[str, str]:
    steps = {step["name"]: step for step in _steps(evidence)}
    containment = [steps[step.name] for step in _containment_steps() if step.name in steps]
    failed = [step for step in containment if step["status"] == "failed"]
    done = [step for step in containment if step["status"] == "done" or "already done" in step["detail"]]
    if failed:
        return "NOT contained", "; ".join(f"{s['name']} failed: {s['detail']}" for s in failed)
    # the responder's own word; a document written before it recorded one: some containment step acted
    contained = (evidence.get("response") or {}).get("contained", bool(done))
    if contained and containment:
        return "Contained", "; ".join(step["detail"] for step in containment)
    why = next((step["detail"] for step in containment), "no containment step ran")
    return "NOT contained", why


def _verdict(evidence: Mapping[str, Any]) -> str:
    verdict, why = _verdict_text(evidence)
    css = "contained" if verdict == "Contained" else "open"
    derived = _derived_open(evidence)
    extra = f" {derived}" if derived else ""
    return f'<div class="verdict {css}" id="verdict">{_e(verdict)}: {_e(why)}.{_e(extra)}</div>'


def _derived_open(evidence: Mapping[str, Any]) -> str:
    revoked = {
        str(d.get("access_key_id"))
        for d in evidence.get("derived", [])
        if str(d.get("done", "")).startswith("revoked")
    }
    sessions = [
        s
        for s in _trail(evidence).get("sessions", [])
        if s.get("kind") == "role-session" and str(s.get("access_key_id")) not in revoked
    ]
    return f"{len(sessions)} role session(s) the user's deny does not end: see below." if sessions else ""


def undo_of(step: Mapping[str, str], declared: str | Callable[[str], str]) -> str:
    return declared(step["detail"]) if callable(declared) else declared


def _our_changes(evidence: Mapping[str, Any]) -> str:
    user, undo = _user(evidence), undo_commands()
    rows = [
        f"<tr><td>{_e(step['name'])}</td><td>{_e(step['detail'])}</td>"
        f"<td><code>{_e(undo_of(step, undo[step['name']]).format(user=user))}</code></td></tr>"
        for step in _steps(evidence)
        if step["status"] == "done" and step["name"] in undo
    ]
    if not rows:
        return "<h2>What we changed</h2><p>Nothing.</p>"
    return (
        "<h2>What we changed</h2><table><tr><th>Step</th><th>What</th><th>How to undo it</th></tr>"
        + "".join(rows)
        + "</table>"
    )


# --- the timeline ---------------------------------------------------------------------------------------


def timeline_svg(evidence: Mapping[str, Any]) -> str:
    """x = time, one lane per principal (the key, then each session), a dot per call coloured by service; the
    signal and the containment as vertical marks."""
    events = [event for event in _events(evidence) if _event_time(event) is not None]
    lanes = _lanes(evidence, events)
    marks = {"signal": _signal_time(evidence), "containment": _containment_time(evidence)}
    times = [t for t in [*(_event_time(e) for e in events), *marks.values()] if t is not None]
    if not times:
        return '<p id="timeline">No calls in the trail.</p>'
    first, last = min(times), max(times)
    span = max((last - first).total_seconds(), 1.0)
    plot = CHART_WIDTH - LABEL_WIDTH - 20

    def x_of(at: datetime) -> float:
        return LABEL_WIDTH + 10 + plot * (at - first).total_seconds() / span

    height = AXIS_HEIGHT + LANE_HEIGHT * len(lanes) + 10
    colours = _service_colours(events)
    parts = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-label="timeline of calls">',
        f'<rect x="0" y="0" width="{CHART_WIDTH}" height="{height}" fill="#ffffff"/>',
    ]
    for index, (lane, label) in enumerate(lanes.items()):
        y = AXIS_HEIGHT + index * LANE_HEIGHT
        parts.append(
            f'<g class="lane" data-lane="{_e(lane)}"><rect x="{LABEL_WIDTH}" y="{y}" width="{plot + 20}" '
            f'height="{LANE_HEIGHT - 4}" fill="#f4f4f4"/><text x="4" y="{y + 17}">{_e(label)}</text></g>'
        )
    for event in events:
        at = _event_time(event)
        lane = str(event.get("AccessKeyId") or "?")
        if at is None or lane not in lanes:
            continue
        centre = AXIS_HEIGHT + list(lanes).index(lane) * LANE_HEIGHT + (LANE_HEIGHT - 4) / 2
        service = _service(event)
        title = f"{at:%H:%M:%S} {service}:{event.get('EventName')} in {event.get('region', '?')}"
        parts.append(
            f'<circle class="call" data-service="{_e(service)}" cx="{x_of(at):.1f}" cy="{centre:.1f}" r="5" '
            f'fill="{colours[service]}"><title>{_e(title)}</title></circle>'
        )
    for row, (name, at) in enumerate(marks.items()):
        if at is None:
            continue
        colour = SIGNAL_COLOUR if name == "signal" else CONTAINMENT_COLOUR
        x = x_of(at)
        near_end = x > CHART_WIDTH - 160  # the label goes left of the line, so that it stays on the chart
        label_x, anchor = (x - 5, "end") if near_end else (x + 5, "start")
        parts.append(
            f'<g class="mark" data-mark="{name}"><line x1="{x:.1f}" x2="{x:.1f}" y1="4" y2="{height - 6}" '
            f'stroke="{colour}" stroke-width="3"/><text x="{label_x:.1f}" y="{12 + 13 * row}" '
            f'text-anchor="{anchor}" fill="{colour}">{name} {at:%H:%M:%S}</text></g>'
        )
    parts.append(
        f'<text x="{LABEL_WIDTH + 10}" y="{height - 1}" class="muted">{first:%Y-%m-%d %H:%M:%S} UTC</text>'
    )
    parts.append("</svg>")
    legend = " ".join(
        f'<span class="legend" data-service="{_e(s)}"><span style="color:{c}">●</span> {_e(s)}</span>'
        for s, c in colours.items()
    )
    return "\n".join(parts) + f'\n<p class="muted">{legend}</p>'


def _lanes(evidence: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    lanes: dict[str, str] = {}
    for key in _trigger_keys(evidence):
        lanes[key] = f"{key} (the key)"
    for session in _trail(evidence).get("sessions", []):
        name = session.get("session_name") or session.get("kind")
        role = str(session.get("role_arn") or "").rsplit("/", 1)[-1]
        lanes[str(session["access_key_id"])] = f"{session['access_key_id'][:12]}… {role or ''} {name}".strip()
    for event in events:
        key = str(event.get("AccessKeyId") or "?")
        lanes.setdefault(key, key)
    return lanes


def _service_colours(events: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    services = sorted({_service(event) for event in events})
    return {s: SERVICE_COLOURS[i % len(SERVICE_COLOURS)] for i, s in enumerate(services)}


# --- derived principals, what the trail changed, what stayed allowed ------------------------------------


def _principals(evidence: Mapping[str, Any]) -> str:
    sessions = _trail(evidence).get("sessions", [])
    if not sessions:
        return "<h2>Sessions the key minted</h2><p>None found in the trail.</p>"
    done = {str(d.get("access_key_id")): d for d in evidence.get("derived", [])}
    rows = []
    for session in sessions:
        key = str(session["access_key_id"])
        action = done.get(key, {}).get("done") or _default_fate(session, evidence)
        rows.append(
            f"<tr><td>{_e(session.get('kind'))}</td><td><code>{_e(key)}</code></td>"
            f"<td>{_e(session.get('role_arn') or session.get('arn') or '')}</td>"
            f"<td>{_e(session.get('session_name') or '')}</td><td>{_e(session.get('issued_at'))}</td>"
            f"<td>{_e(session.get('expires_at') or '?')}</td><td>{_e(action)}</td>"
            f"<td><code>{_e(revocation_command(session))}</code></td></tr>"
        )
    return (
        "<h2>Sessions the key minted</h2><table><tr><th>Kind</th><th>Access key</th><th>Role / ARN</th>"
        "<th>Session</th><th>Issued</th><th>Expires</th><th>What was done</th><th>To revoke</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _default_fate(session: Mapping[str, Any], evidence: Mapping[str, Any]) -> str:
    contained = _verdict_text(evidence)[0] == "Contained"
    if session.get("kind") != "role-session":
        return "ended by the deny policy on the user" if contained else "still valid"
    return "reported (revoke_role_sessions is off): valid until it expires"


def revocation_command(session: Mapping[str, Any]) -> str:
    role = role_revocation.role_name_of(str(session.get("role_arn") or ""))
    if session.get("kind") != "role-session" or not role:
        return f"ended by a deny on the user that minted it ({CONTAINMENT_POLICY_NAME})"
    return role_revocation.revocation_command(role, datetime.now(UTC))


def _trail_changes(evidence: Mapping[str, Any]) -> str:
    changes = _trail(evidence).get("changes", [])
    if not changes:
        return "<h2>What the trail created or changed</h2><p>Nothing found.</p>"
    rows = "".join(
        f"<tr><td>{_e(c['at'])}</td><td>{_e(c['event_name'])}</td><td>{_e(c['kind'])}</td>"
        f"<td>{_e(c['target'])}</td><td>{_e(c.get('identifier') or '')}</td><td><code>{_e(c['by'])}</code></td>"
        f"<td>{_e(c.get('done') or 'reported')}</td><td><code>{_e(c['undo'])}</code></td></tr>"
        for c in changes
    )
    return (
        "<h2>What the trail created or changed</h2><table><tr><th>At</th><th>Call</th><th>Kind</th>"
        "<th>On</th><th>Id</th><th>By</th><th>What was done</th><th>How to undo it</th></tr>"
        + rows
        + "</table>"
    )


def _still_allowed(evidence: Mapping[str, Any]) -> str:
    denied = quarantine_denied_actions()
    calls = sorted(
        {
            f"{_service(event)}:{event.get('EventName')}"
            for event in _events(evidence)
            if f"{_service(event)}:{event.get('EventName')}" not in denied
        }
    )
    if not calls:
        return "<h2>What the quarantine policy still allowed</h2><p>No call of the trail.</p>"
    items = "".join(f"<li><code>{_e(call)}</code></li>" for call in calls)
    return (
        "<h2>What the quarantine policy still allowed</h2><p>Calls of this trail that no version of AWS's "
        f'quarantine policy denies:</p><ul id="allowed">{items}</ul>'
    )


def _coverage(evidence: Mapping[str, Any]) -> str:
    trail = _trail(evidence)
    left_out = trail.get("left_out", 0)
    lines = [
        f"Regions searched: {', '.join(trail.get('regions', [])) or '?'}; LookupEvents calls: "
        f"{trail.get('calls', '?')}.",
        f"Events kept: {trail.get('kept', len(_events(evidence)))}; read-only events left out past the cap: "
        f"{left_out}.",
    ]
    lines += [
        f"Not read to the end: {stop['access_key_id']} in {stop['region']} ({stop['reason']})."
        for stop in trail.get("unfinished", [])
    ]
    lines.append("CloudTrail cannot show data events (S3 objects, Lambda invokes) or regions not searched.")
    return "<h2>What this report covers</h2>" + "".join(f"<p>{_e(line)}</p>" for line in lines)


# --- reading the evidence -------------------------------------------------------------------------------


def _trail(evidence: Mapping[str, Any]) -> Mapping[str, Any]:
    trail = evidence.get("cloudtrail")
    return trail if isinstance(trail, Mapping) else {}


def _events(evidence: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [event for event in _trail(evidence).get("events", []) if isinstance(event, Mapping)]


def _steps(evidence: Mapping[str, Any]) -> list[Mapping[str, str]]:
    return [step for step in (evidence.get("response") or {}).get("steps", []) if isinstance(step, Mapping)]


def _trigger(evidence: Mapping[str, Any]) -> Mapping[str, Any]:
    trigger = evidence.get("trigger")
    return trigger if isinstance(trigger, Mapping) else {}


def _trigger_keys(evidence: Mapping[str, Any]) -> list[str]:
    keys = _trail(evidence).get("keys")
    return (
        [str(k) for k in keys] if keys else [str(k["access_key_id"]) for k in evidence.get("access_keys", [])]
    )


def _user(evidence: Mapping[str, Any]) -> str:
    user = evidence.get("user")
    return str(user.get("UserName", "?")) if isinstance(user, Mapping) else str(user or "?")


def _signal_time(evidence: Mapping[str, Any]) -> datetime | None:
    event = _trigger(evidence).get("event")
    return parse_time(event.get("time")) if isinstance(event, Mapping) else None


def _containment_time(evidence: Mapping[str, Any]) -> datetime | None:
    response = evidence.get("response") or {}
    return parse_time(response.get("contained_at"))


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    return parse_time(event.get("EventTime"))


def _service(event: Mapping[str, Any]) -> str:
    return str(event.get("EventSource", "?")).split(".", 1)[0]


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)
