from __future__ import annotations

import logging
import os
import socket
import threading

import pytest

from benchmark.artifacts import atomic_write_text, config_hash, exclusive


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
        artifacts.atomic_write(path, failing)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]  # no temporary file left behind


def _read_checkpoints_until_stopped(path, stop, seen):
    from benchmark.checkpoints import load_checkpoint

    while not stop.is_set():
        try:
            seen.append(load_checkpoint(path)["step"])
        except FileNotFoundError:  # load_checkpoint wraps it: CorruptCheckpointError "cannot be read"
            seen.append("missing")
        except Exception as e:  # noqa: BLE001 - what the reader saw is the assertion
            seen.append(type(e).__name__ + ": " + str(e)[:80])


def test_a_checkpoint_being_replaced_is_never_missing_and_the_previous_is_kept(tmp_path):
    """A resuming reader (another job, a requeued one) may look at any moment: the latest checkpoint is
    always there and intact while the next one replaces it, and the one replaced becomes the previous."""
    import threading

    from benchmark.checkpoints import load_checkpoint, save_checkpoint

    path, previous = tmp_path / "checkpoint.pt", tmp_path / "checkpoint.prev.pt"
    save_checkpoint({"step": 0}, path, previous=previous)
    assert not previous.exists()
    stop, seen = threading.Event(), []
    reader = threading.Thread(target=_read_checkpoints_until_stopped, args=(path, stop, seen))
    reader.start()
    try:
        for step in range(1, 300):
            save_checkpoint({"step": step, "payload": "x" * 50_000}, path, previous=previous)
    finally:
        stop.set()
        reader.join()
    assert seen and all(isinstance(s, int) for s in seen), sorted({s for s in seen if not isinstance(s, int)})
    assert load_checkpoint(path)["step"] == 299 and load_checkpoint(previous)["step"] == 298
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt"]


def test_where_hard_links_are_refused_the_previous_checkpoint_is_still_kept(tmp_path, monkeypatch):
    """fs.protected_hardlinks, or a file system without links: the replaced file is moved aside instead."""
    import os

    from benchmark.checkpoints import load_checkpoint, save_checkpoint

    def refuse(*args, **kwargs):
        raise PermissionError("hard links refused")

    path, previous = tmp_path / "checkpoint.pt", tmp_path / "checkpoint.prev.pt"
    save_checkpoint({"step": 1}, path, previous=previous)
    monkeypatch.setattr(os, "link", refuse)
    save_checkpoint({"step": 2}, path, previous=previous)
    save_checkpoint({"step": 3}, path, previous=previous)
    assert load_checkpoint(path)["step"] == 3 and load_checkpoint(previous)["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt"]


def test_a_run_waiting_on_a_lock_says_who_holds_it_and_for_how_long(tmp_path, caplog):
    """The waiter names the holder (process, host, since when) at once and again every note_every seconds,
    then builds once the holder lets go."""
    caplog.set_level(logging.WARNING, logger="benchmark.artifacts")
    held, release, order = threading.Event(), threading.Event(), []

    def holder():
        with exclusive(tmp_path / "pretraining"):
            order.append("holder")
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    threading.Timer(0.7, release.set).start()
    with exclusive(tmp_path / "pretraining", note_every=0.2, poll=0.05):
        order.append("waiter")
    thread.join(10)
    notes = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert order == ["holder", "waiter"]
    assert len(notes) >= 2  # at once, then repeated
    assert f"process {os.getpid()} on {socket.gethostname()} since" in notes[0]
    assert str(tmp_path / "pretraining") in notes[0] and "waited 0 s so far" in notes[0]
    assert "since" in (tmp_path / "pretraining.lock").read_text()
