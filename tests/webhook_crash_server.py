"""A real SmartCoders web server in its own process that kills itself (SIGKILL) mid-webhook (E6).

Run by ``tests/test_webhooks.py`` as ``python -m tests.webhook_crash_server POINT MARKER``, with the
suite's DATABASE_URL/REDIS_URL/WEBHOOK_SIGNING_SECRET/PORT in the environment. Every setting
comes from the environment, as in production; the only change is the crash hook, installed on
``app.services.imports.import_bundle`` (the webhook looks it up at call time):

* ``before_effect``: the dedupe row has been inserted in the open transaction; die before the
  import writes anything;
* ``after_effect``: the import has written its charts; die before the transaction commits.

Before dying the hook writes to MARKER how many ``processed_events`` rows its own (uncommitted)
transaction sees, which proves the crash really fell between the dedupe insert and the commit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text


def main() -> None:
    point, marker = sys.argv[1], Path(sys.argv[2])
    from tornado.ioloop import IOLoop

    from app import bootstrap
    from app.server import make_server
    from app.services import imports

    rt = bootstrap.start(apply_migrations=False)
    real = imports.import_bundle

    def crash(scope: Any, **kwargs: Any) -> Any:
        if point == "after_effect":
            real(scope, **kwargs)
        seen = scope.conn.execute(text("SELECT count(*) FROM processed_events")).scalar_one()
        marker.write_text(f"{seen}\n", encoding="utf-8")
        os.kill(os.getpid(), signal.SIGKILL)

    imports.import_bundle = crash  # type: ignore[assignment]  # the test hook: this process only
    asyncio.set_event_loop(asyncio.new_event_loop())
    server = make_server(rt.ctx, host="127.0.0.1", port=rt.settings.port, verbose=False)
    server.start()
    IOLoop.current().start()


if __name__ == "__main__":
    main()
