"""Errors raised by dataset loaders."""
from benchmark.errors import UserError


class DatasetNotFoundError(FileNotFoundError, UserError):
    """A dataset is not where the suite looked; the message lists each place and how to get it."""

    def __init__(self, dataset: str, searched: list[str], how_to_get: str):
        self.dataset, self.searched, self.how_to_get = dataset, searched, how_to_get
        places = "\n".join(f"  - {s}" for s in searched)
        super().__init__(f"{dataset} not found. Looked in:\n{places}\nTo get it: {how_to_get}")


class DamagedDatasetFileError(UserError, ValueError):
    """A dataset file that is there but cannot be read as the official release's format (truncated,
    altered, or another file under the official name); the message names the file."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        super().__init__(f"{path}: damaged or not the official format ({reason}); replace it with the file of "
                         "the official release (or delete it and run with data.download=true)")
