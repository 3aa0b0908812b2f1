"""An outbox relay in its own process, for the SIGKILL (F1, F4) and two-relay (F5) tests.

Run as ``python -m tests.outbox_relay_child`` with the environment of a worker pointed at the
suite's servers (``DATABASE_URL``, ``REDIS_URL``, ``SMARTCODERS_HOME`` …) plus:

- ``RELAY_ORG``: the only organisation it relays (other tests' events stay untouched);
- ``RELAY_KILL_AFTER``: if set, the process SIGKILLs itself right after publishing that many
  events and before recording them — a crash in the middle of a batch, the worst moment.

It prints ``ready`` and waits for a line on stdin (so two relays can start at the same instant),
then relays until the organisation has no unpublished event left, printing after every run a
JSON line ``{"published": <rows it marked published>, "sent": <events it handed to Redis>}``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid

import orjson

from app import bootstrap
from app.jobs import outbox_relay
from app.settings import load_settings
from datalayer.queries import outbox
from datalayer.queries.outbox import OutboxEvent
from datalayer.scope import org_scope


def main() -> int:
    settings = load_settings(os.environ, env_file=None)
    bootstrap.start(apply_migrations=False, settings=settings)
    org_id = uuid.UUID(os.environ["RELAY_ORG"])
    kill_after = int(os.environ.get("RELAY_KILL_AFTER") or 0)
    policy = outbox_relay.RelayPolicy.from_settings(settings)
    sent = 0

    def publisher(event: OutboxEvent) -> None:
        nonlocal sent
        outbox_relay.publish_to_redis(event)
        sent += 1
        if kill_after and sent >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    published = 0
    while True:
        result = outbox_relay.relay(policy, publisher=publisher, only_orgs={org_id})
        published += result.published
        sys.stdout.write(orjson.dumps({"published": published, "sent": sent}).decode() + "\n")
        sys.stdout.flush()
        with org_scope(org_id) as scope:
            if outbox.counts(scope).pending == 0:
                return 0
        if result.published == 0:
            time.sleep(0.05)  # the rest is leased by a relay that died: wait for the lease to run out


if __name__ == "__main__":
    sys.exit(main())
