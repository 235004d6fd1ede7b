"""Errors raised by dataset loaders."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not where the suite looked; the message lists each place and how to get it."""

    def __init__(self, dataset: str, searched: list[str], how_to_get: str):
        self.dataset, self.searched, self.how_to_get = dataset, searched, how_to_get
        places = "\n".join(f"  - {s}" for s in searched)
        super().__init__(f"{dataset} not found. Looked in:\n{places}\nTo get it: {how_to_get}")
