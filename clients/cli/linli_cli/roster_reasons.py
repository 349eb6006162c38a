"""Why a roster row was rejected, in the run's language.

volunteer-points reports each rejected row with a reason in English (RowRejection.reason: the
API speaks English, like every status message). The reasons a roster import gives are a small,
fixed set — the row checks of linli_points.roster_files and the conflicts of creating what
exists — so the CLI recognises them here and shows the catalogue's words; a reason it does not
know is shown as the service wrote it. tests/unit/cli/test_roster_reasons.py runs the service's
real row checks and fails for a reason this table does not recognise.
"""

from __future__ import annotations

import re

from linli_cli.i18n import N_, _

# (the service's reason, as a pattern with named parts; the message shown, with those parts)
REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), message) for pattern, message in (
    (r"must be 1-64 characters of letters, digits, '\.', '_', ':' or '-'",
     N_("must be 1-64 characters of letters, digits, '.', '_', ':' or '-'")),
    (r"must not contain NUL characters", N_("must not contain NUL characters")),
    (r"is required, at most 100 characters", N_("is required, at most 100 characters")),
    (r"is required when family_name is given", N_("is required when family_name is given")),
    (r"must be at most 100 characters", N_("must be at most 100 characters")),
    (r"team (?P<team>'.*') does not exist in this community", N_("team {team} does not exist in this community")),
    (r"must be a date written YYYY-MM-DD, not in the future",
     N_("must be a date written YYYY-MM-DD, not in the future")),
    (r"must be a date written YYYY-MM-DD", N_("must be a date written YYYY-MM-DD")),
    (r"repeats line (?P<line>\d+)", N_("repeats line {line}")),
    (r"the row has more cells than the header", N_("the row has more cells than the header")),
    (r"(?P<what>volunteer|family|team) (?P<id>'.*') already exists with different content; choose a new id",
     N_("{what} {id} already exists with different content; choose a new id")),
))


def reason(text: str) -> str:
    """A rejection's reason for the person reading it."""
    for pattern, message in REASONS:
        match = pattern.fullmatch(text)
        if match is not None:
            parts = {key: _(value) if key == "what" else value for key, value in match.groupdict().items()}
            return _(message).format(**parts)
    return text


def known(text: str) -> bool:
    return any(pattern.fullmatch(text) for pattern, _message in REASONS)
