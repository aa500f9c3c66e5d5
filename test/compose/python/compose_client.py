"""psycopg 3 running composed statements (vector_search joined with a table) through vectorgate.

Run with Debian's interpreter: /usr/bin/python3 compose_client.py <host> <port> <user> <password> <dbname>
Standard input is JSON: {"executions": [{"vector": "[...]", "published": bool, "limit": int}, ...]}.
Every section prints `name=value` lines; a section that raises prints `name!error=<SQLSTATE> <message>`.
Rows print as id:distance joined by commas, executions joined by |.
"""
import json
import sys

import psycopg

JOIN = (
    "SELECT d.id, s.distance FROM vector_search('docs', %s, 30) AS s"
    " JOIN documents d ON d.id = s.id WHERE d.published = %s ORDER BY s.distance, d.id LIMIT %s"
)
# %b sends that parameter in binary: an int2/int4/int8 chosen by psycopg from the value.
JOIN_BINARY_LIMIT = JOIN[: -len("%s")] + "%b"

failed = False


def out(key, value):
    print(f"{key}={value}", flush=True)


def section(name, body, *args):
    global failed
    try:
        body(*args)
    except Exception as e:  # reported under the section's name; the other sections still run
        failed = True
        state = getattr(e, "sqlstate", None) or type(e).__name__
        out(f"{name}!error", f"{state} {str(e)}".replace("\n", " "))


def rows(cur):
    return ",".join(f"{r[0]}:{r[1]!r}" for r in cur.fetchall())


def params(e):
    return [e["vector"], e["published"], e["limit"]]


def extended(login, executions):
    """Each execution with %s parameters; past prepare_threshold (5) psycopg prepares it server-side."""
    with psycopg.connect(**login, autocommit=True) as conn:
        out("extended", "|".join(rows(conn.execute(JOIN, params(e))) for e in executions))
        out("extended.binary_limit", "|".join(rows(conn.execute(JOIN_BINARY_LIMIT, params(e))) for e in executions))
        out("extended.binary_results", "|".join(rows(conn.cursor(binary=True).execute(JOIN, params(e))) for e in executions))
        # prepare=True: a named statement Parsed once, then only Bind/Execute with each execution's values.
        out("extended.prepared", "|".join(rows(conn.execute(JOIN, params(e), prepare=True)) for e in executions))
        cur = conn.execute(JOIN, params(executions[0]))
        out("extended.description", ",".join(f"{c.name}:{c.type_code}" for c in cur.description))


def pipeline(login, executions):
    """All executions, an INSERT … SELECT from a search and a plain statement in one pipeline."""
    with psycopg.connect(**login, autocommit=True) as conn:
        conn.execute("CREATE TABLE py_hits (id text, distance real)")
        with conn.pipeline():
            cursors = [conn.execute(JOIN, params(e)) for e in executions]
            inserted = conn.execute(
                "INSERT INTO py_hits SELECT id, distance FROM vector_search('docs', %s, %s)", [executions[0]["vector"], 7]
            )
            plain = conn.execute("SELECT %s::int + 1", [41])
            stored = conn.execute("SELECT id, distance FROM py_hits ORDER BY distance, id")
        out("pipeline", "|".join(rows(cur) for cur in cursors))
        out("pipeline.inserted", inserted.rowcount)
        out("pipeline.plain", plain.fetchone()[0])
        out("pipeline.stored", rows(stored))


def main():
    host, port, user, password, dbname = sys.argv[1:6]
    login = {"host": host, "port": port, "user": user, "password": password, "dbname": dbname, "connect_timeout": 20}
    executions = json.load(sys.stdin)["executions"]
    section("extended", extended, login, executions)
    section("pipeline", pipeline, login, executions)
    sys.exit(1 if failed else 0)


main()
