"""Label selector syntax, checked here before any request (the API server would refuse a malformed one only
once the run had connected): the grammar of Kubernetes' labels.Parse (apimachinery), for --target-nodes."""

from __future__ import annotations

import re

from chaos_harness.core.errors import UsageError

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_KEY = re.compile(rf"({_PREFIX}/)?{_NAME}")
_VALUE = re.compile(rf"({_NAME})?")
_SET = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_COMPARE = re.compile(r"^(?P<key>[^=!<>\s]+)\s*(?P<op>==|=|!=|<|>)\s*(?P<value>\S*)$")


def _terms(selector: str) -> list[str]:
    """The comma-separated requirements; commas inside `in (...)` belong to their requirement."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            terms.append(selector[start:i])
            start = i + 1
    return [*terms, selector[start:]]


def selector_problem(selector: str) -> str:
    """Why `selector` is not a valid label selector ("" when it is)."""
    if not selector.strip():
        return ""  # selects everything, as in Kubernetes
    for raw in _terms(selector):
        term = raw.strip()
        key, values = term, []
        if m := _SET.match(term):
            key, values = m["key"], [v.strip() for v in m["values"].split(",")]
        elif m := _COMPARE.match(term):
            key, values = m["key"], [m["value"]]
            if m["op"] in "<>" and not re.fullmatch(r"\d+", m["value"]):
                return f"{term!r}: {m['op']} needs a whole number"
        elif term.startswith("!"):
            key = term[1:].strip()
        if not _KEY.fullmatch(key) or len(key.rpartition("/")[0]) > 253:
            return f"{term!r}: {key!r} is not a label key" if term else "an empty requirement (two commas?)"
        if bad := [v for v in values if not _VALUE.fullmatch(v)]:
            return f"{term!r}: {bad[0]!r} is not a label value"
    return ""


def check_selector(selector: str, flag: str) -> str:
    """`selector`, or a UsageError naming the flag and what is wrong."""
    if why := selector_problem(selector):
        raise UsageError(f"{flag} {selector!r} is not a label selector: {why} (e.g. 'pool=chaos', "
                         f"'!node-role.kubernetes.io/control-plane', 'zone in (a,b)')")
    return selector
