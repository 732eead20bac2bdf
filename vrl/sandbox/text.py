"""Make the program's printed text and error messages safe to log, print and show the policy.

The text comes from untrusted code and ends up in the trainer's logs and terminal. Terminal
escape sequences there can clear the screen, set the clipboard (OSC 52), plant hyperlinks
(OSC 8), retitle the window or hide lines; bidi overrides reorder what a reader sees. `clean`
drops every escape sequence (CSI, OSC, DCS/SOS/PM/APC strings, two-byte ESC forms) and shows
what else could act on a terminal as a visible escape (`\\x07`, `\\u202e`): C0 controls except
tab and newline, DEL, C1 controls (8-bit CSI/OSC included) and the bidi controls. A carriage
return that does not end a line becomes a newline, so it cannot overprint what came before.
Linear time: no pattern here backtracks.
"""

from __future__ import annotations

import re

# ESC + one of: CSI (params, intermediates, final byte); a string command (OSC ], DCS P, SOS X,
# PM ^, APC _) up to BEL, ST (ESC \) or the next ESC/newline/end; or a short form (intermediates + final).
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|[\]PX^_][^\x07\x1b\n]*(?:\x07|\x1b\\)?|[ -/]*[0-~]?)")
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")


def _visible(m: re.Match) -> str:
    c = ord(m.group(0))
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def clean(text: str) -> str:
    """`text` with escape sequences removed and other terminal controls made visible."""
    if text.isprintable():  # the common case: nothing to do (newlines and tabs are not printable)
        return text
    text = _ESCAPE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub(_visible, text)
