"""Errors fdelib raises on purpose.

Every error a learner can cause (a bad parameter, an unknown notebook, a busy port,
a server that will not start) is an :class:`FdeError` with a short message that says
what went wrong and what to do. The CLI prints it on one line.
"""


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


class NotebookFailed(FdeError):
    """A notebook raised an error while it ran (names the notebook and the cell)."""


class StillRunning(FdeError):
    """Work a caller waits for (a workflow, a worker) did not reach the outcome the caller
    describes before its deadline: a clear failure instead of a half-finished state."""
