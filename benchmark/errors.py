"""The one base class of errors the user can fix by changing their input.

launch.py reports a ``UserError`` as one block of text and exit status 2, with no traceback (the
traceback goes to the run's log file; ``--debug`` prints it). Raise one (or a subclass) where the message
names what to change: the key, the bad value and what is valid, or the file and what is wrong with it.
"""


class UserError(Exception):
    """Bad input (a config value, a file, a device): reported as a message, not as a crash."""


class RefusedFileError(UserError):
    """A file the config names (a network pickle, a weights file) that the suite will not load: its format is
    not one the suite reads, or it holds what a safe loader refuses. Nothing in the file was run."""

    def __init__(self, path, reason: str, expected: str = ""):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: refused, not loaded (nothing in the file was run): {reason}"
                         + (f"; {expected}" if expected else ""))
