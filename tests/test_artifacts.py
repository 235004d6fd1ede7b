from __future__ import annotations

import pytest

from benchmark.artifacts import atomic_write_text, config_hash


def test_config_hash_ignores_key_order_and_sees_values():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "record.json"
    atomic_write_text(path, "old")

    class Boom(Exception):
        pass

    import benchmark.artifacts as artifacts

    def failing(f):
        f.write(b"half")
        raise Boom

    with pytest.raises(Boom):
        artifacts._atomic_write(path, failing)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]  # no temporary file left behind
