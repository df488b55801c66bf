"""Errors of the command line, and the one-line form every error is reported in."""


class CliError(Exception):
    """An error the user can act on, reported as a single line without traceback."""


def one_line(exc):
    """A readable single line for an exception.

    Parameters
    ----------
    exc : BaseException
        The error.

    Returns
    -------
    str
        The message on one line; errors that are not the user's to fix
        name their type and point at ``--debug``.
    """
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"{exc.filename}: no such file or directory"
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, MemoryError):
        return "out of memory (try --float32, or fewer rows)"
    message = " ".join(str(exc).split())
    if isinstance(exc, (CliError, ValueError, OSError)):
        return message or type(exc).__name__
    return f"{type(exc).__name__}: {message} (run with --debug for the traceback)"
