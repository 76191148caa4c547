"""Fixtures of the install-path tests (issue #14): a host without a Celery app, and a network
guard that proves nothing was sent to a broker (RabbitMQ listens on 127.0.0.1:5672 in CI)."""

from __future__ import annotations

import socket

import pytest

from stylerec.services import queue


@pytest.fixture
def tcp_attempts(monkeypatch) -> list:
    """Every TCP/IP connection this process attempts is recorded and refused (PostgreSQL is
    reached through its Unix socket by libpq, which this does not touch)."""
    attempts: list = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refused(sock: socket.socket, address, real):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise ConnectionRefusedError(f"tests/install: no network, refused {address!r}")
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", lambda sock, address: refused(sock, address, real_connect))
    monkeypatch.setattr(
        socket.socket, "connect_ex", lambda sock, address: refused(sock, address, real_connect_ex)
    )
    return attempts


@pytest.fixture
def no_celery_app(monkeypatch, settings):
    """This process as a host that never created a Celery app nor set a broker: ``celery.current_app``
    becomes Celery's own fallback app (made afresh), which reads none of Django's CELERY_* settings."""
    from celery import _state

    if hasattr(settings, "CELERY_BROKER_URL"):
        del settings.CELERY_BROKER_URL
    monkeypatch.setattr(_state, "default_app", None)
    monkeypatch.setattr(_state._tls, "current_app", None)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    queue._inline_announced.clear()
    yield
    queue._inline_announced.clear()
