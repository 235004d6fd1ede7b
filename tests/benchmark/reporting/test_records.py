"""Records name the code that produced them: the commit, dirty only when code or configs changed."""
import subprocess

from benchmark.reporting.records import git_commit


def test_git_commit_is_dirty_for_code_not_for_records_or_leaderboards(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    for path in ("results/embedded/r.json", "leaderboards/embedded.md", "methods/m.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("v1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    head = git_commit(tmp_path)
    assert len(head) == 40 and not head.endswith("+dirty")
    (tmp_path / "results/embedded/r.json").write_text("v2\n")  # a sweep rewrites its own outputs
    (tmp_path / "leaderboards/embedded.md").write_text("v2\n")
    assert git_commit(tmp_path) == head
    (tmp_path / "methods/m.py").write_text("v2\n")
    assert git_commit(tmp_path) == head + "+dirty"
