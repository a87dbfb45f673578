"""The one family of errors edge-digits raises, and the exit code each maps to.

The CLI catches `EdgeDigitsError` (and only that), prints its message as one line
on stderr and exits with its `exit_code`. The codes are documented in the README.
"""

from __future__ import annotations


def one_line(error: BaseException, limit: int | None = None) -> str:
    """An exception's text as one line (libraries' messages span lines), or its type's name."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if limit is None else text[:limit]


class EdgeDigitsError(Exception):
    """Base of every error the library raises on purpose; the message is one line for a user."""

    exit_code = 1


class InputError(EdgeDigitsError):
    """An input image cannot be read or decoded."""

    exit_code = 1


class UsageError(EdgeDigitsError):
    """An option or argument is not allowed (the message says what is)."""

    exit_code = 2


class ModelError(EdgeDigitsError):
    """A model file is not a usable TFLite digit classifier, or its sidecar does not match it."""

    exit_code = 3


class DataError(EdgeDigitsError):
    """MNIST could not be found, fetched or verified."""

    exit_code = 4


class MissingDependencyError(EdgeDigitsError):
    """An optional package is needed; the message gives the exact install command."""

    exit_code = 5


class OutputError(EdgeDigitsError):
    """An output file or folder cannot be written."""

    exit_code = 6


class CameraError(EdgeDigitsError):
    """A camera, video or stream cannot be opened, or stopped delivering frames."""

    exit_code = 7


class EdgeDigitsWarning(UserWarning):
    """Something worth telling the user that does not stop the work (e.g. a model without sidecar)."""
