"""A fast health endpoint for the benchmarks, in its own process: `python endpoint.py PORT`."""

from __future__ import annotations

import sys

from aiohttp import web


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
