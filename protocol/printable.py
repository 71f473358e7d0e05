"""Peer-controlled text made safe for a log line or a terminal: escaped, and cut to a bound.

Everything a peer sends is hostile, in logs too: subkeys, peer ids, batch ids, generator names,
questions, model and hardware strings, addresses. Printed raw, ``ESC[2J`` clears the terminal, a
newline forges a log line of its own ("round 999 ..."), and a 10 kB subkey makes a 10 kB line.
`peer_text` escapes every character that is not printable (control characters, ESC, newlines,
bidirectional overrides, ...) and backslashes the way Python's ``repr`` does, then cuts the result
to ``limit`` characters, ending in "..." when it cut.

    >>> peer_text("sw1\\x1b[2J\\nround 999 reward 1.000")
    "'sw1\\\\x1b[2J\\\\nround 999 reward 1.000'"
    >>> len(peer_text("x" * 10_000)), peer_text("x" * 10_000)[-4:]
    (80, "'...")
    >>> peer_text(b"\\x00raw", quote=False)
    "b'\\\\x00raw'"

Use it for every peer string that reaches a logger, a terminal table or an exception message.
"""

from __future__ import annotations

DEFAULT_LIMIT = 80
"""Characters of one escaped peer string in a log line."""


def _escaped(ch: str, backslash: bool = True) -> str:
    if ch.isprintable() and (ch != "\\" or not backslash):
        return ch
    return ch.encode("unicode_escape").decode("ascii")  # \n, \x1b, \u202e, \\


def peer_text(value: object, limit: int = DEFAULT_LIMIT, *, quote: bool = True) -> str:
    """``value`` (a str, else its repr) with every non-printable character escaped, in at most ``limit``
    characters (quotes and the "..." of a cut included); quoted like a repr unless ``quote`` is False.
    A cut falls between escapes, never inside one."""
    raw = isinstance(value, str)
    text = value if raw else repr(value)  # a repr is escaped already: only what it left raw is escaped
    room = max(4, limit - (2 if quote else 0))
    pieces: list[str] = []
    used = 0
    for ch in text:
        piece = "\\'" if quote and ch == "'" else _escaped(ch, backslash=raw)
        if used + len(piece) > room:
            while pieces and used > room - 3:
                used -= len(pieces.pop())
            return _wrap("".join(pieces), quote) + "..."
        pieces.append(piece)
        used += len(piece)
    return _wrap("".join(pieces), quote)


def _wrap(body: str, quote: bool) -> str:
    return f"'{body}'" if quote else body
