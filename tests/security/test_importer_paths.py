"""Issue #13.6: the catalog importer copied any file the server could read into media.

Only http(s) URLs and files inside ``--images-dir`` are accepted: ``../`` paths, absolute paths
outside the folder, links leading out of it, ``file://`` and other URL schemes, and http redirects
to ``file://`` are rejected row by row with a clear error.
"""

from __future__ import annotations

import http.server
import threading

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from stylerec.models import get_product_model
from stylerec.services.catalog import catalog_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def layout(tmp_path):
    """tmp/images/good.png (the folder the import may read) and tmp/secret.png beside it: a valid
    image, so only the path rule can stop it."""
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(images / "good.png")
    Image.new("RGB", (20, 20), (9, 9, 9)).save(tmp_path / "secret.png")
    (images / "link.png").symlink_to(tmp_path / "secret.png")
    return tmp_path, images


def _import(tmp_path, images, refs: list[str]):
    rows = "".join(f"T{i},Shirt,5,{ref}\n" for i, ref in enumerate(refs))
    (tmp_path / "catalog.csv").write_text("title,category,price,image\n" + rows, encoding="utf-8")
    return catalog_import(path=tmp_path / "catalog.csv", images_dir=images)


def test_paths_outside_the_images_folder_and_file_urls_are_rejected(layout):
    tmp_path, images = layout
    secret = tmp_path / "secret.png"
    refs = [
        "good.png",  # line 2: fine
        str(images / "good.png"),  # line 3: absolute, but inside the folder: fine
        "../secret.png",  # line 4
        str(secret),  # line 5: absolute, outside
        secret.as_uri(),  # line 6: file://
        "link.png",  # line 7: a link inside the folder that leads out of it
        "sub/../../secret.png",  # line 8
        "ftp://example.invalid/a.png",  # line 9
        "data:image/png;base64,iVBORw0KGgo=",  # line 10
    ]
    report = _import(tmp_path, images, refs)
    assert report.created == 2
    errors = dict(report.errors)
    assert sorted(errors) == [4, 5, 6, 7, 8, 9, 10]
    for line in (4, 5, 7, 8):
        assert "outside the images folder" in errors[line], errors[line]
    for line, scheme in ((6, "file"), (9, "ftp"), (10, "data")):
        assert f"not {scheme}: URLs" in errors[line] and "only http(s) URLs" in errors[line]
    assert len(default_storage.listdir("products")[1]) == 2
    assert get_product_model().objects.count() == 2


class _RedirectToFile(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):  # noqa: N802 - the http.server API
        self.send_response(302)
        self.send_header("Location", self.target)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_an_http_redirect_to_a_file_url_is_not_followed(layout):
    """A guard, not the reported hole: urllib refuses redirects to file:// itself, and the
    importer's opener has no file or ftp handler to follow one with."""
    tmp_path, images = layout
    _RedirectToFile.target = (tmp_path / "secret.png").as_uri()
    server = http.server.HTTPServer(("127.0.0.1", 0), _RedirectToFile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        report = _import(tmp_path, images, [f"http://127.0.0.1:{server.server_port}/photo.png"])
    finally:
        server.shutdown()
        server.server_close()
    assert report.created == 0
    [(line, reason)] = report.errors
    assert line == 2 and "could not be read" in reason
    assert not get_product_model().objects.exists()
