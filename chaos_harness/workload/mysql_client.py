"""The MySQL workload client: a writer that records every write in the ledger, and a reader.

Connections go to 127.0.0.1 only (a port-forward or a locally published container port).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pymysql
from tenacity import retry, retry_if_exception_type, stop_after_attempt, stop_after_delay, wait_fixed

from chaos_harness.workload.ledger import Ledger, Outcome, WriteRecord, now

SCHEMA = "chaos"
TABLE = f"{SCHEMA}.ledger"
# Client-side error codes after which the statement may or may not have been applied.
AMBIGUOUS_CLIENT_ERRORS = {
    2006,  # server has gone away
    2013,  # lost connection during query
    2055,  # lost connection at '...'
}


@dataclass(frozen=True)
class Endpoint:
    """Where to connect (always loopback) and what the endpoint stands for (e.g. "mysql-0.mysql")."""

    port: int
    name: str
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"refusing {self.host}: the workload connects only through loopback")


# A MySQL server speaks first: on a working connection its greeting arrives at once. Through the Kubernetes
# client's port-forward, about one new stream in 20 to 70 never delivers it (measured on the test bed: 2 to 7 of
# 150 new connections; kubectl's port-forward 0 of 150) and the server drops it after its own connect_timeout,
# 10 s later. A connection whose greeting has not come within the first wait is dropped and opened again on a
# new stream, each wait twice the last (a slow host still gets its greeting), all within `timeout`.
GREETING_SECONDS = 1.0


def connect(endpoint: Endpoint, timeout: float = 5, database: str | None = None) -> pymysql.connections.Connection:
    conn = pymysql.connect(host=endpoint.host, port=endpoint.port, user="root", password="", database=database,
                           connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout, autocommit=True,
                           defer_connect=True)
    sock = greeted_socket(endpoint, timeout)
    try:
        conn.connect(sock)
    except BaseException:
        sock.close()
        raise
    return conn


def greeted_socket(endpoint: Endpoint, timeout: float) -> socket.socket:
    """A TCP connection to the endpoint on which the server's greeting is waiting to be read."""
    deadline = time.monotonic() + timeout
    wait = GREETING_SECONDS
    while True:
        try:
            sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
        except OSError as e:  # what pymysql itself raises when it cannot connect
            raise pymysql.err.OperationalError(2003, f"Can't connect to MySQL server on {endpoint.name} ({e})") from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        left = deadline - time.monotonic()
        if select.select([sock], [], [], max(0.0, min(wait, left)))[0]:
            return sock
        sock.close()
        if left <= wait:
            raise pymysql.err.OperationalError(2013, f"Lost connection to MySQL server on {endpoint.name}: no "
                                                     f"greeting within {timeout:g}s")
        wait *= 2


# What a server that is down, restarting or behind a broken port-forward raises: worth another try.
CONNECT_ERRORS = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)


def connect_with_retries(endpoint: Endpoint, attempts: int = 3) -> pymysql.connections.Connection:
    """Connecting sends no statement, so it is safe to retry: a port-forward stream that failed to open once
    must not turn a write into a failure. After `attempts` the error stands (the write is then "fail")."""
    return retry(stop=stop_after_attempt(attempts), wait=wait_fixed(0.3), reraise=True,
                 retry=retry_if_exception_type(CONNECT_ERRORS))(connect)(endpoint)


retry_idempotent = retry(stop=stop_after_delay(60), wait=wait_fixed(1), reraise=True,
                         retry=retry_if_exception_type(CONNECT_ERRORS))


@retry(stop=stop_after_delay(120), wait=wait_fixed(0.5), reraise=True,
       retry=retry_if_exception_type(CONNECT_ERRORS))
def wait_until_serving(endpoint: Endpoint) -> None:
    with connect(endpoint) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")


@retry_idempotent
def ensure_schema(endpoint: Endpoint) -> None:
    with connect(endpoint) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {SCHEMA}")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGINT PRIMARY KEY, value VARCHAR(64) NOT NULL, "
                    f"written_at DOUBLE NOT NULL) ENGINE=InnoDB")


def classify(error: BaseException, sent: bool) -> Outcome:
    """fail = certainly not applied; unknown = may have been applied."""
    if not sent:
        return "fail"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "unknown"
    if isinstance(error, pymysql.err.OperationalError) and error.args and error.args[0] in AMBIGUOUS_CLIENT_ERRORS:
        return "unknown"
    if isinstance(error, pymysql.err.InterfaceError):
        return "unknown"
    if isinstance(error, pymysql.err.MySQLError) and error.args and isinstance(error.args[0], int) \
            and error.args[0] < 2000:
        return "fail"  # the server answered with an error: the statement was rejected
    return "unknown"


def write_until(write_one: Callable[[], WriteRecord], stop: threading.Event, count: int | None = None,
                pause: float = 0.0) -> None:
    """The writers' loop (MySQL's and a probe's): write until `stop` is set or `count` writes were attempted."""
    written = 0
    while not stop.is_set() and (count is None or written < count):
        record = write_one()
        written += 1
        if record.outcome != "ok":
            stop.wait(0.2)  # do not spin while the server is down
        elif pause:
            stop.wait(pause)


class Writer:
    """Inserts rows with increasing keys and records each attempt. Reconnects after a failure."""

    def __init__(self, endpoint: Endpoint, ledger: Ledger, first_key: int = 1) -> None:
        self.endpoint = endpoint
        self.ledger = ledger
        self.next_key = first_key
        self._conn: pymysql.connections.Connection | None = None

    def write_one(self) -> WriteRecord:
        key = self.next_key
        self.next_key += 1
        value = f"v{key}"
        wall, mono = now()
        sent = False
        try:
            if self._conn is None:
                self._conn = connect_with_retries(self.endpoint)
            with self._conn.cursor() as cur:
                sent = True
                cur.execute(f"INSERT INTO {TABLE} (id, value, written_at) VALUES (%s, %s, %s)", (key, value, wall))
            outcome: Outcome = "ok"
            error = None
        except Exception as e:  # pymysql, socket and OS errors all end the same way: classify, reconnect
            outcome, error = classify(e, sent), f"{type(e).__name__}: {e}"
            self.close()
        _, done = now()
        record = WriteRecord(key, value, self.endpoint.name, wall, mono, done, outcome, error)
        self.ledger.append(record)
        return record

    def run(self, stop: threading.Event, count: int | None = None, pause: float = 0.0) -> None:
        write_until(self.write_one, stop, count, pause)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None


@retry_idempotent
def read_keys(endpoint: Endpoint) -> set[int]:
    """Every key the server holds (empty if the table does not exist: a fresh server after data loss)."""
    with connect(endpoint) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema=%s AND table_name='ledger'",
                    (SCHEMA,))
        if cur.fetchone()[0] == 0:
            return set()
        cur.execute(f"SELECT id FROM {TABLE}")
        return {row[0] for row in cur.fetchall()}


@retry_idempotent
def server_id(endpoint: Endpoint) -> int:
    with connect(endpoint) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@server_id")
        return int(cur.fetchone()[0])


@contextmanager
def background_writer(writer: Writer, pause: float = 0.0) -> Iterator[threading.Event]:
    """Run `writer` in a thread for the duration of the block; stop and join it on exit."""
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop,), kwargs={"pause": pause}, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=30)
        writer.close()
