"""What a contact wrote in an e-mail reply, without the message it quotes.

Mail clients append the message being answered below an attribution line ("On Mon, 3 Nov 2026
at 10:00, Ann <ann@x.example> wrote:", "-----Original Message-----", Outlook's "From: ..."
block) or as `>`-quoted lines. Those words are ours, not the contact's: the intent detector
must never read them as the contact's interest.
"""

from __future__ import annotations

import re

# The first line of the quoted part, in the forms the common clients write.
_QUOTE_STARTS = re.compile(
    r"""^(?:
        on\s.{1,200}\swrote:\s*$            # Gmail, Apple Mail, Thunderbird
      | -{2,}\s*original\s+message\s*-{2,}  # Outlook, Lotus
      | _{10,}\s*$                          # Outlook's rule above its header block
      | from:\s.+$                          # a forwarded or Outlook header block
      | >                                   # a quoted line
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def strip_quoted(body: str) -> str:
    """The text above the first quoted line, trimmed."""
    kept: list[str] = []
    for line in body.splitlines():
        if _QUOTE_STARTS.match(line.strip()):
            break
        kept.append(line)
    return "\n".join(kept).strip()
