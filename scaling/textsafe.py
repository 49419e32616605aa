"""Control characters in text made visible, for tables and messages that quote data.

Run and column names come from files and can carry terminal control sequences, and
invisible format characters: Unicode bidirectional controls (U+202A-U+202E, U+2066-U+2069)
that make a name display in another order than it is stored, zero-width characters, line
separators.  :func:`printable` shows the controls as ``\\x1b``-style escapes and the format
characters as ``\\u202e``-style escapes; :func:`frame_text` applies it to a table's text
cells before it is laid out with ``to_string``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# C0 controls, DEL and C1 controls; printable(keep_newline=True) keeps newline (layout).
# Invisible format characters (Unicode category Cf and the line/paragraph separators):
# soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width characters and
# marks, line/paragraph separators, bidi embeddings, overrides and isolates, invisible
# operators, byte order mark, interlinear annotation characters, tag characters.
_FORMAT = (
    "\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\U000e0000-\U000e007f"
)
_CONTROL = re.compile(rf"[\x00-\x1f\x7f-\x9f{_FORMAT}]")
_CONTROL_NO_NL = re.compile(rf"[\x00-\x09\x0b-\x1f\x7f-\x9f{_FORMAT}]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: object, keep_newline: bool = False) -> str:
    r"""``text`` with control characters shown as ``\xNN`` escapes, format characters as ``\uNNNN``.

    >>> printable("run\x1b]0;owned\x07")
    'run\\x1b]0;owned\\x07'
    >>> printable("admin\u202egnp.exe")
    'admin\\u202egnp.exe'
    >>> printable("a\nb"), printable("a\nb", keep_newline=True)
    ('a\\x0ab', 'a\nb')
    """
    return (_CONTROL_NO_NL if keep_newline else _CONTROL).sub(_escape, str(text))


def _cell(v: object) -> object:
    return printable(v) if isinstance(v, str) else v


def frame_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose string cells, column names and index labels have control characters escaped."""
    import pandas as pd  # here, not at the top: the CLI's --help loads this module without pandas

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or isinstance(out[col].dtype, pd.StringDtype):
            out[col] = out[col].map(_cell)
    out.columns = [printable(c) if isinstance(c, str) else c for c in out.columns]
    if out.index.dtype == object:
        out.index = out.index.map(_cell)
    return out


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def neutralise(v: object) -> object:
    """``'`` + a string cell a spreadsheet would read as a formula; numbers and other cells unchanged."""
    if isinstance(v, str) and v.startswith(_FORMULA_START) and not _is_number(v):
        return "'" + v
    return v


def formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every formula-like string cell and column name neutralised
    (OWASP's advice on CSV injection); numbers are left alone.

    >>> import pandas as pd
    >>> formula_safe(pd.DataFrame({"run": ["=cmd()", "-1.5", "a"], "x": [-1.0, 2.0, 3.0]}))["run"].tolist()
    ["'=cmd()", '-1.5', 'a']
    """
    import pandas as pd  # not at module level: the CLI's --help imports this module

    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object or isinstance(safe[col].dtype, pd.StringDtype):
            safe[col] = safe[col].map(neutralise)
    safe.columns = [neutralise(c) for c in safe.columns]
    return safe
