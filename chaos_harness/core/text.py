"""Text that came from outside (a user's input, a Lease someone edited, an API server's message), made fit for
one line of a terminal before it is shown."""

from __future__ import annotations


def one_line(text: object, limit: int = 500) -> str:
    """`text` as one line fit for a terminal: control characters (a newline, an escape sequence) shown escaped,
    anything past `limit` characters cut with a count of what was left out (user input echoed in an error)."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))
    return shown if len(shown) <= limit else f"{shown[:limit]}... ({len(shown) - limit} more characters)"
