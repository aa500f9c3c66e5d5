"""psycopg 3 exercised the way Python applications use it, against the server given on the command line.

Run with Debian's interpreter: /usr/bin/python3 psycopg_client.py <host> <port> <user> <password> <dbname>
Every section prints `name=value` lines for the test to compare; a section that raises prints
`name!error=<SQLSTATE or exception> <message>` and the program exits 1 after the remaining sections.
"""
import datetime
import decimal
import random
import sys
import threading
import time
import uuid

import psycopg
from psycopg import errors

VERSION_SQL = "SELECT vectorgate_version()"

failed = False


def out(key, value):
    print(f"{key}={value}", flush=True)


def section(name, body, login):
    global failed
    try:
        body(login)
    except Exception as e:  # any failure is reported under the section's name; the others still run
        failed = True
        state = getattr(e, "sqlstate", None) or type(e).__name__
        message = str(e).replace("\n", " ")
        out(f"{name}!error", f"{state} {message}")


def connect(login, **kwargs):
    return psycopg.connect(**login, connect_timeout=20, **kwargs)


def simple(login):
    with connect(login, autocommit=True) as conn:
        out("simple.select1", conn.execute("SELECT 1").fetchone()[0])
        out("simple.pid_matches", conn.info.backend_pid == conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        cur = conn.execute(VERSION_SQL)
        out("simple.version", cur.fetchone()[0])
        column = cur.description[0]
        out("simple.version.column", f"{len(cur.description)} {column.name} {column.type_code}")


def parameters(login):
    with connect(login, autocommit=True) as conn:
        row = conn.execute(
            "SELECT %s::int + 1, %s::text, %s::int, %s::bytea, %s::numeric, %s::date, %s::int[]",
            [41, "ünïcødé ✓", None, b"\x00\x01\xfe\xff", decimal.Decimal("12.340"), datetime.date(2000, 2, 29), [3, 1, 2]],
        ).fetchone()
        out("params.row", repr(row))


def prepared(login):
    """psycopg prepares a statement server-side once it has run prepare_threshold (5) times."""
    with connect(login, autocommit=True) as conn:
        doubled = [conn.execute("SELECT %s::int * 2", [i]).fetchone()[0] for i in range(1, 9)]
        out("prepared.doubled", ",".join(map(str, doubled)))
        count = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::int * 2'").fetchone()[0]
        out("prepared.server_prepared", count)
        versions = [conn.execute(VERSION_SQL).fetchone()[0] for _ in range(8)]
        versions.append(conn.execute(VERSION_SQL, prepare=True).fetchone()[0])
        out("prepared.version", ",".join(versions))


def pipeline_mixed(login):
    """A pipeline of local and pass-through statements, crossing the prepare threshold inside it."""
    plan = random.Random(2024)
    with connect(login, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE py_pipeline (n int)")
        cursors, expected, inserted = [], [], 0
        with conn.pipeline():
            # libpq itself is in pipeline mode: it sends every statement without waiting for results.
            out("pipeline.mixed.libpq_mode", psycopg.pq.PipelineStatus(conn.pgconn.pipeline_status).name)
            for i in range(120):
                pick = plan.randrange(4)
                if pick == 0:
                    cursors.append(conn.execute(VERSION_SQL))
                    expected.append("0.1.0")
                elif pick == 1:
                    cursors.append(conn.execute("SELECT %s::int * 2", [i]))
                    expected.append(str(i * 2))
                elif pick == 2:
                    cursors.append(conn.execute("INSERT INTO py_pipeline VALUES (%s) RETURNING n", [i]))
                    expected.append(str(i))
                    inserted += 1
                else:
                    cursors.append(conn.execute("SELECT %s::text || '!'", [f"t{i}"]))
                    expected.append(f"t{i}!")
        got = [str(cur.fetchone()[0]) for cur in cursors]
        out("pipeline.mixed.matches", got == expected)
        out("pipeline.mixed.versions", got.count("0.1.0"))
        out("pipeline.mixed.rows_inserted", conn.execute("SELECT count(*) FROM py_pipeline").fetchone()[0] == inserted)


def pipeline_error(login):
    """An error in a pipeline aborts what follows up to the Sync, and the implicit transaction with it."""
    with connect(login, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE py_pipeline_error (n int)")
        states = []
        try:
            with conn.pipeline():
                conn.execute("INSERT INTO py_pipeline_error VALUES (1)")
                conn.execute(VERSION_SQL)
                conn.execute("SELECT 1/0")
                conn.execute(VERSION_SQL)
                conn.execute("INSERT INTO py_pipeline_error VALUES (2)")
        except errors.DivisionByZero as e:
            states.append(e.sqlstate)
        out("pipeline.error", " ".join(states))
        out("pipeline.error.rows", conn.execute("SELECT count(*) FROM py_pipeline_error").fetchone()[0])
        # A second pipeline: statements after an explicit sync point are unaffected by an earlier error.
        results = []
        try:
            with conn.pipeline() as p:
                conn.execute("SELECT 1/0")
                try:
                    p.sync()
                except errors.DivisionByZero as e:
                    results.append(e.sqlstate)
                results.append(conn.execute(VERSION_SQL).fetchone()[0])
                results.append(str(conn.execute("SELECT %s::int", [7]).fetchone()[0]))
        except errors.DivisionByZero as e:
            results.append(f"late {e.sqlstate}")
        out("pipeline.error.recovered", " ".join(results))


def binary(login):
    with connect(login, autocommit=True) as conn:
        cur = conn.cursor(binary=True)
        cur.execute(
            "SELECT %b::int4, %b::int8, %b::float8, %b::numeric, %b::bytea, %b::uuid, %b::timestamp, %b::int4[], %b::text",
            [-123456, 9_000_000_000_123, 3.25, decimal.Decimal("12345.678900"), b"\x00\x01\xfe\xff",
             uuid.UUID("6f1c7b4e-2d6a-4c8e-9a57-3b1f0e2d4c6a"), datetime.datetime(2024, 2, 29, 13, 14, 15, 123456),
             [3, 1, 2], "bïnary ✓"],
        )
        out("binary.row", repr(cur.fetchone()))
        out("binary.formats", ",".join(str(cur.pgresult.fformat(i)) for i in range(cur.pgresult.nfields)))
        cur.execute(VERSION_SQL)
        out("binary.version", cur.fetchone()[0])
        out("binary.version.format", cur.pgresult.fformat(0))


def transactions(login):
    with connect(login) as conn:
        conn.execute("CREATE TEMP TABLE py_tx (label text)")
        conn.commit()
        with conn.transaction():
            conn.execute("INSERT INTO py_tx VALUES ('before')")
            conn.execute("INSERT INTO py_tx VALUES (%s)", [conn.execute(VERSION_SQL).fetchone()[0]])
        conn.execute("INSERT INTO py_tx VALUES ('rolled back')")
        conn.execute(VERSION_SQL)
        conn.rollback()
        out("transaction.rows", ",".join(r[0] for r in conn.execute("SELECT label FROM py_tx ORDER BY label")))
        conn.rollback()
        states = []
        for sql in ("SELECT 1/0", VERSION_SQL):
            try:
                conn.execute(sql)
                states.append("none")
            except psycopg.Error as e:
                states.append(e.sqlstate)
        conn.rollback()
        states.append(conn.execute(VERSION_SQL).fetchone()[0])
        out("transaction.failed", " ".join(states))


def cancel(login):
    """conn.cancel() is libpq's PQcancel: a CancelRequest on a new connection, once the sleep runs."""
    with connect(login, autocommit=True) as conn, connect(login, autocommit=True) as watcher:
        pid = conn.info.backend_pid

        def cancel_when_running():
            while watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active' AND query LIKE '%%pg_sleep%%'", [pid]
            ).fetchone()[0] == 0:
                time.sleep(0.02)
            conn.cancel()

        canceller = threading.Thread(target=cancel_when_running)
        canceller.start()
        try:
            conn.execute("SELECT pg_sleep(30)")
            out("cancel", "none")
        except errors.QueryCanceled as e:
            out("cancel", e.sqlstate)
        canceller.join()
        out("cancel.after", conn.execute("SELECT 'usable'").fetchone()[0])


def main():
    if len(sys.argv) != 6:
        print("usage: psycopg_client.py <host> <port> <user> <password> <dbname>", file=sys.stderr)
        sys.exit(2)
    host, port, user, password, dbname = sys.argv[1:]
    login = {"host": host, "port": int(port), "user": user, "password": password, "dbname": dbname}
    out("psycopg.version", psycopg.__version__)
    for name, body in [
        ("simple", simple),
        ("params", parameters),
        ("prepared", prepared),
        ("pipeline.mixed", pipeline_mixed),
        ("pipeline.error", pipeline_error),
        ("binary", binary),
        ("transaction", transactions),
        ("cancel", cancel),
    ]:
        section(name, body, login)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
