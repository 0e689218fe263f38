"""Errors fdelib raises on purpose.

Every error a learner can cause (a bad parameter, an unknown notebook, a busy port,
a server that will not start) is an :class:`FdeError` with a short message that says
what went wrong and what to do. The CLI prints it on one line.
"""

from collections.abc import Callable


class FdeError(Exception):
    """Base class: a problem the user can fix, with a one-line explanation."""


class ConfigError(FdeError):
    """A setting in the environment or in `.env` is invalid."""


class StackError(FdeError):
    """The embedded PostgreSQL server could not be started, reached or stopped."""


class NotebookNotFound(FdeError):
    """A notebook named on the command line does not exist under `notebooks/`."""


class ParameterError(FdeError):
    """A `-p key=value` parameter is malformed or unknown to the notebook."""


class StillRunning(FdeError):
    """Work a caller waits for (a workflow, a worker) did not reach the outcome the caller
    describes before its deadline: a clear failure instead of a half-finished state."""


def attempt(
    step: Callable[..., object], *args: object, refused: type[Exception] = FdeError, **kwargs: object
) -> Exception | None:
    """Call ``step``; the error it raised on purpose (``refused``: the course's own errors by
    default), or None when it went through. How a lesson shows a refused step: a feed's error,
    a refused load, a failed Mage run — printed, the error's text is its message. Any other
    error is a bug and propagates."""
    try:
        step(*args, **kwargs)
    except refused as error:
        return error
    return None
