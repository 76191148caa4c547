import pytest


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Uploaded and generated images go to a per-test folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def pytest_ignore_collect(collection_path, config):
    # The swapped-host tests need their own settings; they run in a subprocess (see
    # tests/foundation/test_swapped_model.py), never in the main session.
    import os

    if "swapped_store" in collection_path.parts and not os.environ.get("STYLEREC_SWAPPED_RUN"):
        return True
    return None


# Fixtures whose set-up is the expensive part: every test using one is slow.
SLOW_FIXTURES = {"trained_dir", "unpacked"}
SLOW_MARKERS = {"worker", "browser"}


def pytest_collection_modifyitems(config, items):
    """`make test-fast` (-m "not slow") skips real training, real workers, browsers and
    subprocess hosts; `make test` runs them all."""
    import pytest

    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or any(
            item.get_closest_marker(name) for name in SLOW_MARKERS
        ):
            item.add_marker(pytest.mark.slow)
