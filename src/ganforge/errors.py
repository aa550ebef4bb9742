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


def run_script(main, *args) -> int:
    """Run a script's ``main(*args)`` (a ``bench/`` or ``scripts/`` entry point) as the CLI runs a command: a
    :class:`UserError` or a file-system error is one line on stderr and exit code 2 (3 for a divergence), not a
    traceback; returns ``main``'s int result, or 0."""
    from .cli import _os_error_line, _say_error

    try:
        result = main(*args)
    except UserError as e:
        _say_error(str(e))
        return e.exit_code
    except OSError as e:
        _say_error(_os_error_line(e))
        return 2
    return result if isinstance(result, int) else 0
