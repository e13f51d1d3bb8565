"""The timeline: an SVG drawn from one scenario's history, after Jepsen's timeline and latency plots.

Lanes, top to bottom: faults; one per node (Ready over time, runtime unreachable); one per pod identity (each
incarnation's phase, Ready, Terminating, deletion); one per identity on the container runtime (a bar per
node and pod incarnation while its containers ran: a split brain is two bars at once); then the writer's
latency over time, coloured by outcome. Fault windows are shaded across all lanes. Every mark has an SVG
<title> with exact times, so hovering shows them; no script is needed.

Pure: events in, markup out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from chaos_harness.record.history import Event, of_kind

LABEL_W = 190
PLOT_W = 1000
LANE_H = 22
SUB_H = 9
AXIS_H = 26
LATENCY_H = 150
MAX_WRITE_POINTS = 4000

COLOURS = {
    "True": "#2e9e4f", "Unknown": "#9a9a9a", "False": "#d0453a", "cordoned": "#c98b2b",
    "Pending": "#e7b416", "Running": "#74a9cf", "Ready": "#2e9e4f", "Terminating": "#e6772e",
    "Succeeded": "#bbbbbb", "Failed": "#d0453a", "unreachable": "#555555",
    "ok": "#2e9e4f", "fail": "#d0453a", "unknown": "#e6a02e",
}
NODE_PALETTE = ("#3b6fb6", "#8e44ad", "#16a085", "#c0392b", "#d35400", "#2c3e50")


def wall_text(wall: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(wall)) + f".{int((wall % 1) * 1000):03d}Z"


@dataclass
class Frame:
    """Maps monotonic seconds to x pixels; remembers one wall/mono pair to print wall-clock times."""

    t0: float
    t1: float
    wall0: float

    def x(self, mono: float) -> float:
        span = max(self.t1 - self.t0, 1e-6)
        return LABEL_W + (min(max(mono, self.t0), self.t1) - self.t0) / span * PLOT_W

    def rel(self, mono: float) -> str:
        return f"+{mono - self.t0:.1f}s"

    def wall(self, mono: float) -> str:
        return wall_text(self.wall0 + (mono - self.t0))


class Svg:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, fill: str, title: str = "", cls: str = "",
             extra: str = "") -> None:
        body = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{max(w, 1.5):.1f}" height="{h:.1f}" '
                          f'fill="{fill}" {extra}>{body}</rect>')

    def text(self, x: float, y: float, s: str, cls: str = "label", anchor: str = "start") -> None:
        self.parts.append(f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(s)}</text>')

    def line(self, x1: float, y1: float, x2: float, y2: float, cls: str, title: str = "") -> None:
        body = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}">{body}</line>')

    def circle(self, x: float, y: float, fill: str, title: str) -> None:
        self.parts.append(f'<circle class="write" cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{fill}">'
                          f'<title>{escape(title)}</title></circle>')


def _segments(points: Sequence[tuple[float, Any]], end: float) -> list[tuple[float, float, Any]]:
    """A step function as (start, stop, value) runs, merging equal neighbours."""
    runs: list[tuple[float, float, Any]] = []
    for i, (t, v) in enumerate(points):
        stop = points[i + 1][0] if i + 1 < len(points) else end
        if runs and runs[-1][2] == v:
            runs[-1] = (runs[-1][0], stop, v)
        else:
            runs.append((t, stop, v))
    return [r for r in runs if r[1] >= r[0]]


def _pod_state(ev: Event) -> str:
    if ev["deleting"]:
        return "Terminating"
    if ev["ready"]:
        return "Ready"
    return ev["phase"] or "Pending"


def _fault_windows(events: Sequence[Event]) -> list[tuple[float, float | None, dict[str, Any]]]:
    """(inject mono, healed mono or None, fault spec) per fault, in injection order."""
    windows: list[tuple[float, float | None, dict[str, Any]]] = []
    for ev in of_kind(events, "fault"):
        if ev["phase"] == "inject":
            windows.append((ev["mono"], None, ev["fault"]))
        elif ev["phase"] == "healed":
            for i, (start, stop, spec) in enumerate(windows):
                if stop is None and spec == ev["fault"]:
                    windows[i] = (start, ev["mono"], spec)
                    break
    return windows


def fault_label(spec: dict[str, Any]) -> str:
    where = spec.get("node") or spec.get("pod") or ""
    return f"{spec['type']} {where}".strip()


def timeline_svg(events: Sequence[Event]) -> str:
    """The whole timeline as one <svg> element (empty string for an empty history): the faults lane, a lane per
    node, per pod identity (the API's view) and per identity on the runtimes, the writes' latency, then the
    fault windows shaded over them all and the time axis."""
    timed = [e for e in events if e["kind"] not in ("meta", "scenario")]
    if not timed:
        return ""
    frame = Frame(min(e["mono"] for e in timed), max(e["mono"] for e in timed),
                  next(e["wall"] - (e["mono"] - min(x["mono"] for x in timed)) for e in timed[:1]))
    svg = Svg()
    windows = _fault_windows(events)
    lanes_top = AXIS_H
    y = _faults_lane(svg, frame, windows, lanes_top)
    y, colour_of_node = _node_lanes(svg, frame, events, y)
    y = _pod_lanes(svg, frame, events, y + 4)
    y = lanes_bottom = _runtime_lanes(svg, frame, events, colour_of_node, y + 4)
    y = _latency_lane(svg, frame, events, y)
    for e in of_kind(events, "step"):
        svg.line(frame.x(e["mono"]), lanes_top, frame.x(e["mono"]), lanes_bottom, "step",
                 f"{e['what']} at {frame.wall(e['mono'])} ({frame.rel(e['mono'])})")
    height = y + 10
    return (f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{LABEL_W + PLOT_W + 20}" '
            f'height="{height:.0f}" viewBox="0 0 {LABEL_W + PLOT_W + 20} {height:.0f}" role="img">'
            + "".join(_axis(frame, y).parts + _fault_shades(frame, windows, lanes_top, y).parts + svg.parts)
            + "</svg>")


def _faults_lane(svg: Svg, frame: Frame, windows: list[tuple[float, float | None, dict[str, Any]]], y: float) -> float:
    svg.text(8, y + 15, "faults", "lane-title")
    for i, (start, stop, spec) in enumerate(windows):
        end = stop if stop is not None else frame.t1
        svg.rect(frame.x(start), y + 3 + (i % 2) * 8, frame.x(end) - frame.x(start), 7, "#b03a2e",
                 f"{fault_label(spec)}: injected {frame.wall(start)} ({frame.rel(start)}), "
                 f"{'healed ' + frame.wall(end) if stop is not None else 'not healed in this history'}", "fault")
    return y + LANE_H + 4


def _node_lanes(svg: Svg, frame: Frame, events: Sequence[Event], y: float) -> tuple[float, dict[str, str]]:
    """Each node's Ready state over time, with the moments its runtime could not be sampled; the colour that
    stands for the node in the runtime lanes."""
    nodes = sorted({e["name"] for e in of_kind(events, "node")})
    colour_of_node = {n: NODE_PALETTE[i % len(NODE_PALETTE)] for i, n in enumerate(nodes)}
    for node in nodes:
        svg.text(8, y + 15, node, "lane-title node-name")
        points = [(e["mono"], "cordoned" if e["unschedulable"] and e["ready"] == "True" else e["ready"] or "Unknown")
                  for e in of_kind(events, "node") if e["name"] == node and e["type"] != "DELETED"]
        for start, stop, value in _segments(points, frame.t1):
            svg.rect(frame.x(start), y + 4, frame.x(stop) - frame.x(start), LANE_H - 8, COLOURS.get(value, "#999"),
                     f"{node} Ready={value} from {frame.wall(start)} ({frame.rel(start)}) to {frame.wall(stop)}",
                     "node-state")
        for e in of_kind(events, "runtime"):
            if e["node"] == node and not e.get("ok"):
                svg.rect(frame.x(e["mono"]) - 1, y + LANE_H - 5, 2, 4, COLOURS["unreachable"],
                         f"runtime of {node} unreachable at {frame.wall(e['mono'])}: {e.get('error', '')[:80]}")
        svg.rect(LABEL_W - 14, y + 6, 8, 8, colour_of_node[node], f"colour of {node} in the runtime lanes")
        y += LANE_H
    return y, colour_of_node


def _pod_lanes(svg: Svg, frame: Frame, events: Sequence[Event], y: float) -> float:
    """Each pod identity as the API showed it: one segment per state of each incarnation (UID), a line where
    an incarnation was deleted."""
    pod_events = list(of_kind(events, "pod"))
    for pod in sorted({e["name"] for e in pod_events}, key=_identity_key):
        svg.text(8, y + 15, f"pod {pod}", "lane-title")
        by_uid: dict[str, list[Event]] = {}
        for e in pod_events:
            if e["name"] == pod:
                by_uid.setdefault(e["uid"], []).append(e)
        for uid, evs in by_uid.items():
            deleted = next((e["mono"] for e in evs if e["type"] == "DELETED"), None)
            end = deleted if deleted is not None else frame.t1
            points = [(e["mono"], _pod_state(e)) for e in evs if e["type"] != "DELETED"]
            for start, stop, state in _segments(points, end):
                node = next((e["node"] for e in evs if e["mono"] >= start and e["node"]), None) or "no node"
                svg.rect(frame.x(start), y + 4, frame.x(stop) - frame.x(start), LANE_H - 8,
                         COLOURS.get(state, "#999"), f"{pod} (uid {uid[:8]}) {state} on {node}: "
                         f"{frame.wall(start)} ({frame.rel(start)}) to {frame.wall(stop)} ({frame.rel(stop)})",
                         "pod-state")
            if deleted is not None:
                svg.line(frame.x(deleted), y + 2, frame.x(deleted), y + LANE_H - 2, "deleted",
                         f"{pod} (uid {uid[:8]}) deleted from the API at {frame.wall(deleted)} ({frame.rel(deleted)})")
        y += LANE_H
    return y


def _runtime_lanes(svg: Svg, frame: Frame, events: Sequence[Event], colour_of_node: dict[str, str],
                   y: float) -> float:
    """What the nodes' container runtimes ran, per identity: one bar per (node, pod UID), in its node's colour."""
    bars = _runtime_bars(events)
    for pod in sorted(bars, key=_identity_key):
        rows = sorted(bars[pod], key=lambda k: (bars[pod][k][0], k))
        height = max(LANE_H, len(rows) * (SUB_H + 2) + 6)
        svg.text(8, y + 15, f"runtime {pod}", "lane-title")
        for i, key in enumerate(rows):
            node, uid = key
            first, last, n = bars[pod][key]
            svg.rect(frame.x(first), y + 3 + i * (SUB_H + 2), frame.x(last) - frame.x(first), SUB_H,
                     colour_of_node.get(node, "#777"), f"{pod} (uid {uid[:8]}) running on {node}: first seen "
                     f"{frame.wall(first)} ({frame.rel(first)}), last seen {frame.wall(last)} ({frame.rel(last)}), "
                     f"{n} samples", "runtime-bar")
        y += height
    return y


def _latency_lane(svg: Svg, frame: Frame, events: Sequence[Event], y: float) -> float:
    """Each write's latency (log scale), coloured by its outcome; thinned to MAX_WRITE_POINTS."""
    writes = list(of_kind(events, "write"))
    if not writes:
        return y
    y += 10
    svg.text(8, y + 14, "writes: latency", "lane-title")
    svg.text(8, y + 30, "(log scale)", "axis")
    top, bottom = y + 6, y + LATENCY_H - 6
    low, high = math.log10(0.0005), math.log10(30.0)
    for tick in (0.001, 0.01, 0.1, 1.0, 10.0):
        ty = bottom - (math.log10(tick) - low) / (high - low) * (bottom - top)
        svg.line(LABEL_W, ty, LABEL_W + PLOT_W, ty, "grid")
        svg.text(LABEL_W - 4, ty + 4, f"{tick * 1000:g} ms" if tick < 1 else f"{tick:g} s", "axis", "end")
    step = max(1, len(writes) // MAX_WRITE_POINTS)
    for w in writes[::step]:
        latency = max(w["completed_mono"] - w["invoked_mono"], 0.0005)
        py = bottom - (math.log10(min(latency, 30.0)) - low) / (high - low) * (bottom - top)
        svg.circle(frame.x(w["invoked_mono"]), py, COLOURS.get(w["outcome"], "#000"),
                   f"write {w['key']} to {w['target']}: {w['outcome']} in {latency * 1000:.1f} ms at "
                   f"{frame.wall(w['invoked_mono'])} ({frame.rel(w['invoked_mono'])})"
                   + (f": {w['error']}" if w.get("error") else ""))
    return y + LATENCY_H


def _fault_shades(frame: Frame, windows: list[tuple[float, float | None, dict[str, Any]]], top: float,
                  bottom: float) -> Svg:
    shades = Svg()
    for start, stop, spec in windows:
        end = stop if stop is not None else frame.t1
        shades.rect(frame.x(start), top, frame.x(end) - frame.x(start), bottom - top, "#b03a2e",
                    f"fault window: {fault_label(spec)}", "fault-window", 'fill-opacity="0.08"')
    return shades


def _axis(frame: Frame, bottom: float) -> Svg:
    """Seconds since the first event, about a dozen ticks whatever the span."""
    span = frame.t1 - frame.t0
    tick = next((t for t in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if span / t <= 12), 1200)
    axis = Svg()
    t = 0.0
    while t <= span + 1e-9:
        x = frame.x(frame.t0 + t)
        axis.line(x, AXIS_H - 6, x, bottom, "tick")
        axis.text(x, AXIS_H - 10, f"{t:g}s", "axis", "middle")
        t += tick
    axis.text(8, AXIS_H - 10, f"t=0 at {frame.wall(frame.t0)}", "axis")
    return axis


def _identity_key(name: str) -> tuple[str, int]:
    base, _, ordinal = name.rpartition("-")
    return (base, int(ordinal)) if ordinal.isdigit() else (name, -1)


def _runtime_bars(events: Sequence[Event]) -> dict[str, dict[tuple[str, str], tuple[float, float, int]]]:
    """pod name -> (node, pod uid) -> (first seen running, last seen running, samples)."""
    bars: dict[str, dict[tuple[str, str], tuple[float, float, int]]] = {}
    for e in of_kind(events, "runtime"):
        if not e.get("ok"):
            continue
        for key in {(c["pod"], c["pod_uid"]) for c in e["containers"] if c["state"] == "CONTAINER_RUNNING"}:
            pod, uid = key
            slot = (e["node"], uid)
            first, _, n = bars.setdefault(pod, {}).get(slot, (e["mono"], e["mono"], 0))
            bars[pod][slot] = (first, e["mono"], n + 1)
    return bars


def notable_rows(events: Sequence[Event]) -> list[dict[str, str]]:
    """The table under the timeline: faults, node Ready changes, pod incarnations and state changes, and the
    cluster's warning events, with exact times."""
    timed = [e for e in events if e["kind"] not in ("meta",)]
    if not timed:
        return []
    t0 = min(e["mono"] for e in timed if e["kind"] != "scenario")
    rows: list[dict[str, str]] = []
    last_node: dict[str, str] = {}
    last_pod: dict[str, str] = {}

    def add(e: Event, what: str, detail: str) -> None:
        rows.append({"wall": wall_text(e["wall"]), "rel": f"+{e['mono'] - t0:.1f}s", "what": what, "detail": detail})

    for e in events:
        kind = e["kind"]
        if kind == "fault":
            add(e, f"fault {e['phase']}", fault_label(e["fault"]) + (f" — {e['evidence']}" if e.get("evidence") else ""))
        elif kind == "node":
            state = f"Ready={e['ready']}" + (" cordoned" if e["unschedulable"] else "")
            if last_node.get(e["name"]) != state:
                last_node[e["name"]] = state
                add(e, f"node {e['name']}", state)
        elif kind == "pod":
            state = "deleted" if e["type"] == "DELETED" else f"{_pod_state(e)} on {e['node'] or 'no node'}"
            key = f"{e['name']}/{e['uid']}"
            if last_pod.get(key) != state:
                last_pod[key] = state
                add(e, f"pod {e['name']}", f"{state} (uid {e['uid'][:8]})")
        elif kind == "event" and (e.get("event_type") == "Warning" or e["reason"] in ("Killing", "Scheduled")):
            if e["type"] not in ("LISTED", "FINAL"):
                add(e, f"event {e['reason']}", f"{e['object']}: {(e.get('message') or '')[:160]}")
        elif kind == "step":
            add(e, "step", e["what"])
        elif kind in ("dns", "read"):
            add(e, kind, ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("seq", "mono", "wall", "kind")))
    return rows
