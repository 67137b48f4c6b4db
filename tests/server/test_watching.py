"""Which folders are watched, so symlink swaps of volumes and git-sync are seen."""

from __future__ import annotations

import os
from pathlib import Path

from webhook.server.watching import roots_of, watch_roots


def test_a_plain_folder_is_watched_itself(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    assert watch_roots(tmp_path / "rules") == {(tmp_path / "rules").resolve()}


def test_a_secret_volume_file_watches_the_mount(tmp_path: Path) -> None:
    mount = tmp_path / "tls"
    (mount / "..2026_01_01").mkdir(parents=True)
    (mount / "..2026_01_01" / "tls.crt").write_text("x")
    os.symlink("..2026_01_01", mount / "..data")
    os.symlink("..data/tls.crt", mount / "tls.crt")
    roots = roots_of((mount / "tls.crt",))
    assert mount.resolve() in roots


def test_a_git_sync_link_watches_the_folder_holding_it(tmp_path: Path) -> None:
    root = tmp_path / "git"
    (root / ".worktrees" / "abc" / "policy").mkdir(parents=True)
    os.symlink(".worktrees/abc", root / "current")
    roots = watch_roots(root / "current" / "policy")
    assert roots == {root.resolve(), (root / ".worktrees" / "abc" / "policy").resolve()}


def test_a_missing_path_watches_nothing_yet(tmp_path: Path) -> None:
    assert watch_roots(tmp_path / "absent" / "rules") == frozenset()
