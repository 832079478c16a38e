"""The yardstick of ``target_state.py``: the least a Python service on this stack can do per request.

    python bench/bare_app.py --port PORT --dsn postgresql://...

A Starlette app under uvicorn (uvloop + httptools, no access log) with two routes:

- ``GET /row/{id}``: one primary-key ``SELECT`` through a psycopg async pool in autocommit (one round trip, no
  BEGIN/COMMIT), the row as JSON — the floor for any endpoint that reads the database once;
- ``GET /ping``: a constant, no database — the ceiling of uvicorn + Starlette + the load generator together.

``--setup`` creates and fills the table (``bench_bare_rows``, 1 000 rows) and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator

import psycopg
import uvicorn
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

ROWS = 1000
TABLE = "bench_bare_rows"


def setup(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(
            f"CREATE TABLE {TABLE} (id integer PRIMARY KEY, name text NOT NULL, status text NOT NULL)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {TABLE} (id, name, status) VALUES (%s, %s, %s)",
                [(i, f"row-{i}", "ACTIVE") for i in range(1, ROWS + 1)],
            )


def create_app(dsn: str, pool_size: int) -> Starlette:
    pool = AsyncConnectionPool(
        dsn, min_size=pool_size, max_size=pool_size, kwargs={"autocommit": True}, open=False
    )
    query = f"SELECT id, name, status FROM {TABLE} WHERE id = %s"

    async def row(request: Request) -> Response:
        key = int(request.path_params["id"])
        async with pool.connection() as conn:
            cursor = await conn.execute(query, (key,))
            found = await cursor.fetchone()
        if found is None:
            return JSONResponse({"code": "not_found"}, status_code=404)
        return JSONResponse({"id": found[0], "name": found[1], "status": found[2]})

    async def ping(request: Request) -> Response:
        return PlainTextResponse("pong")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=True)
        try:
            yield
        finally:
            await pool.close()

    return Starlette(routes=[Route("/row/{id:int}", row), Route("/ping", ping)], lifespan=lifespan)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--setup", action="store_true", help="create and fill the table, then exit")
    args = parser.parse_args(argv)
    if args.setup:
        setup(args.dsn)
        return 0
    uvicorn.run(
        create_app(args.dsn, args.pool_size),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
