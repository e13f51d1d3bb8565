from pathlib import Path

from chaos_harness.testbed import build


def test_digest_changes_with_content(tmp_path: Path) -> None:
    f = tmp_path / "input"
    f.write_text("a")
    first = build.digest("v1", f)
    assert build.digest("v1", f) == first
    f.write_text("b")
    assert build.digest("v1", f) != first
    assert build.digest("v2", f) != build.digest("v1", f)


def test_digest_of_directory_sees_every_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x").write_text("1")
    before = build.digest(tmp_path)
    (tmp_path / "y").write_text("2")
    assert build.digest(tmp_path) != before


def test_offline_flag(monkeypatch) -> None:
    monkeypatch.setenv("OFFLINE", "1")
    assert build.offline_requested()
    monkeypatch.setenv("OFFLINE", "0")
    assert not build.offline_requested()


def test_resolve_builds_offline_without_pulling(monkeypatch) -> None:
    monkeypatch.setenv("OFFLINE", "1")
    monkeypatch.setattr(build, "try_pull", lambda ref: (_ for _ in ()).throw(AssertionError("pulled")))
    assert build.resolve("kindest/node:v1", lambda: "built", "node image") == "built"


def test_resolve_prefers_the_pull(monkeypatch) -> None:
    monkeypatch.delenv("OFFLINE", raising=False)
    monkeypatch.setattr(build, "image_exists", lambda ref: False)
    monkeypatch.setattr(build, "try_pull", lambda ref: True)
    assert build.resolve("kindest/node:v1", lambda: "built", "node image") == "kindest/node:v1"


def test_resolve_falls_back_to_build_when_pull_fails(monkeypatch) -> None:
    monkeypatch.delenv("OFFLINE", raising=False)
    monkeypatch.setattr(build, "image_exists", lambda ref: False)
    monkeypatch.setattr(build, "try_pull", lambda ref: False)
    assert build.resolve("kindest/node:v1", lambda: "built", "node image") == "built"
