"""Waiting on the cluster by watching, with deadlines: list, then watch from the list's resourceVersion,
re-list on 410 Gone, every request bounded by a timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import watch

from harness.errors import Gone, TransientClusterError, WaitTimeout, api_errors
from harness.progress import waiting


def watch_until(list_fn: Callable[..., Any], predicate: Callable[[Any], bool], deadline_seconds: float, what: str,
                diagnostics: Callable[[], str] | None = None, **list_kwargs: Any) -> tuple[Any, float]:
    """Wait until some object from `list_fn` satisfies `predicate`. Returns (object, seconds waited)."""
    with waiting(what, deadline_seconds):
        return _watch_until(list_fn, predicate, deadline_seconds, what, diagnostics, **list_kwargs)


def _watch_until(list_fn: Callable[..., Any], predicate: Callable[[Any], bool], deadline_seconds: float, what: str,
                 diagnostics: Callable[[], str] | None, **list_kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    deadline = started + deadline_seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(what, deadline_seconds, diagnostics() if diagnostics else "")
        with api_errors(f"listing for {what}"):
            listed = list_fn(_request_timeout=min(10, remaining), **list_kwargs)
        for obj in listed.items:
            if predicate(obj):
                return obj, time.monotonic() - started
        w = watch.Watch()
        try:
            with api_errors(f"watching for {what}"):
                for event in w.stream(list_fn, resource_version=listed.metadata.resource_version,
                                      timeout_seconds=max(1, int(min(30, remaining))),
                                      _request_timeout=min(40, remaining + 5), **list_kwargs):
                    if event["type"] == "ERROR":
                        break  # typically 410 Gone: re-list
                    if event["type"] != "DELETED" and predicate(event["object"]):
                        return event["object"], time.monotonic() - started
                    if time.monotonic() >= deadline:
                        break
        except (Gone, TransientClusterError):
            pass  # a resourceVersion too old, or the watch connection timed out or dropped: re-list
        finally:
            w.stop()


def node_condition(node: Any, kind: str = "Ready") -> str | None:
    for c in node.status.conditions or []:
        if c.type == kind:
            return c.status
    return None
