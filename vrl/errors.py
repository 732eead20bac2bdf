"""User-facing errors: one line naming the key, file or record, and how to fix it.

Raise `VrlError` for anything a user can fix (bad config value, missing file, unknown option).
The entry point prints its message as a single line and exits with status 2, no traceback.
"""


class VrlError(Exception):
    """An error the user can fix. The message is one line: what is wrong, where, and the fix."""


class ConfigError(VrlError):
    """A config key is missing, mistyped or names something that does not exist."""


class MissingFileError(VrlError):
    """A model path, dataset file or product that a stage needs does not exist."""
