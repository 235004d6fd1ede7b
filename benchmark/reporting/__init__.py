"""What is recorded and how it is shown: ``records.py`` (one JSON record per run), the three kinds of
leaderboard (``preset_leaderboard.py``: a column per task; ``table_leaderboard.py``: laid out as one of the
paper's tables; ``suite_leaderboard.py``: a column per dataset of a transfer suite), ``cells.py`` (row names
and cells they share), ``leaderboards.py`` (which leaderboards a record is on, rendered by kind) and
``__main__.py`` (``python -m benchmark.reporting``)."""
