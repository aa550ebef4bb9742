"""User errors: the one place that decides how a mistake by the user is reported.

A :class:`UserError` is raised anywhere in ganforge for bad input (missing data, a bad config value,
an unknown model). The CLI catches it, prints its one-line message to stderr and exits with code 2;
everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input, reported as one line naming the thing and what was expected."""

    exit_code = 2


class TrainingDiverged(UserError):
    """A training run produced a non-finite loss or weight: reported as one line, exit code 3. The loop
    raises it before writing anything from the broken state, so the last checkpoint stays the last good one."""

    exit_code = 3
