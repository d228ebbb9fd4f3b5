"""Where the studio writes: one private folder per request under Gradio's cache, names made only of
safe characters (an upload's name never becomes a path), empty old folders pruned."""
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resshift.manager import ModelManager
from studio.handlers import Studio
from studio.images import new_request_dir, prune_request_dirs
from studio.limits import Limits
from tests.corpus import texture
from tests.helpers import tiny_model

SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]+\.png")


@pytest.fixture(scope="module")
def manager():
    m = ModelManager([], device="cpu")
    m.put(tiny_model("sr"))
    return m


@pytest.fixture
def studio(manager, tmp_path):
    return Studio(manager, Limits.defaults("cpu"), files_root=tmp_path / "files")


def test_concurrent_requests_get_private_folders(studio, tmp_path):
    """Two requests at the same moment, same input and seed: same pixels, different files."""
    Image.fromarray(texture(20, 12)).save(tmp_path / "same.png")
    barrier, results, errors = threading.Barrier(2), [None, None], []

    def run(i):
        try:
            barrier.wait(30)
            results[i] = studio.super_resolve(str(tmp_path / "same.png"), "tiny-sr", 1, 2.0, 11)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    paths = [Path(r[2]) for r in results]
    assert paths[0] != paths[1] and paths[0].name == paths[1].name  # same name, own folders
    for p in paths:
        assert p.parent.parent == tmp_path / "files" / "resshift" and p.parent.name.startswith("req-")
    assert np.array_equal(np.asarray(Image.open(paths[0])), np.asarray(Image.open(paths[1])))


def test_new_request_dirs_are_unique_and_private(tmp_path):
    folders = {new_request_dir(tmp_path) for _ in range(50)}
    assert len(folders) == 50
    assert all(oct(f.stat().st_mode & 0o777) == "0o700" for f in folders)  # mkdtemp: owner only


@pytest.mark.parametrize("name", ["..png", "a b;rm -rf ~.png", "$(reboot).png", "%2e%2e%2fetc%2fpasswd.png",
                                  "名前.png", "x" * 200 + ".png", ".hidden.png", "-rf.png"])
def test_upload_names_only_give_safe_file_names(studio, tmp_path, name):
    folder = tmp_path / "uploads"
    folder.mkdir()
    Image.fromarray(texture(8, 8)).save(folder / name, format="PNG")
    (before, after), _, path, _ = studio.super_resolve(str(folder / name), "tiny-sr", 1, 2.0, 1)
    for p in map(Path, (before, after, path)):
        assert p.parent.parent == tmp_path / "files" / "resshift"  # nothing else in the path
        assert SAFE_NAME.fullmatch(p.name) and not p.name.startswith(".") and len(p.name) < 200, p.name
    assert {p.name for p in (tmp_path / "files").rglob("*") if p.is_file()} == {Path(before).name, Path(path).name}


def test_empty_old_request_folders_are_pruned(tmp_path):
    base = tmp_path / "resshift"
    old_empty, new_empty, old_full = base / "req-old", base / "req-new", base / "req-full"
    for folder in (old_empty, new_empty, old_full):
        folder.mkdir(parents=True)
    (old_full / "result.png").write_bytes(b"png")
    (base / "other").mkdir()
    an_hour_ago = time.time() - 3600
    for folder in (old_empty, old_full, base / "other"):
        os.utime(folder, (an_hour_ago, an_hour_ago))
    assert prune_request_dirs(base, min_age=600) == 1
    assert not old_empty.exists() and new_empty.exists() and old_full.exists() and (base / "other").exists()
    os.utime(new_empty, (an_hour_ago, an_hour_ago))  # now old too: the next request prunes it
    fresh = new_request_dir(tmp_path)
    assert {p.name for p in base.iterdir()} == {"other", "req-full", fresh.name}
