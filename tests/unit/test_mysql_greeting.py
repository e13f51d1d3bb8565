"""A connection whose MySQL greeting never comes (a port-forward stream that lost it) is replaced by a new one
within about a second, instead of waiting for the server to drop it 10 s later; a server that never greets
fails within the caller's timeout."""

from __future__ import annotations

import socket
import threading
import time

import pymysql
import pytest

from chaos_harness.workload.mysql_client import Endpoint, greeted_socket


def server(greet_from: int) -> tuple[socket.socket, list[socket.socket]]:
    """A loopback listener that stays silent on its first `greet_from` connections and greets the later ones."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            if len(accepted) > greet_from:
                conn.sendall(b"greeting")

    threading.Thread(target=serve, daemon=True).start()
    return listener, accepted


def test_a_connection_without_greeting_is_replaced_by_a_new_one():
    listener, accepted = server(greet_from=1)
    started = time.monotonic()
    sock = greeted_socket(Endpoint(port=listener.getsockname()[1], name="lost-greeting"), timeout=5)
    took = time.monotonic() - started
    assert sock.recv(8) == b"greeting"
    assert len(accepted) == 2 and 0.9 < took < 2.5
    sock.close()
    listener.close()


def test_a_server_that_never_greets_fails_within_the_timeout():
    listener, accepted = server(greet_from=10**6)
    started = time.monotonic()
    with pytest.raises(pymysql.err.OperationalError, match="no greeting within 2.5s"):
        greeted_socket(Endpoint(port=listener.getsockname()[1], name="silent"), timeout=2.5)
    assert 2.4 < time.monotonic() - started < 3.5
    assert len(accepted) == 2  # waits of 1 s, then the remaining 1.5 s
    listener.close()


def test_nothing_listening_is_pymysqls_own_cannot_connect():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(pymysql.err.OperationalError) as raised:
            greeted_socket(Endpoint(port=port, name="nothing"), timeout=1)
    assert raised.value.args[0] == 2003
