"""Where the frames come from: Parquet files, or one organisation in the database (read-only).

The edge of the package: the only module here that does I/O. Analysts and notebooks call
``load()``, which reads the environment:

- ``SMARTCODERS_METRICS_PARQUET=/path/to/folder``: one ``<frame>.parquet`` per frame
  (``charts.parquet``, ``submissions.parquet``, …) as ``write_parquet`` or
  ``smartcoders export-frames`` write them; a frame without its file is empty;
- ``SMARTCODERS_METRICS_ORG=<organisation slug>``: that organisation, read from PostgreSQL in
  one read-only snapshot (``datalayer.queries.metrics.analyst_snapshot``) over the app's
  ``DATABASE_URL`` (its restricted role: row-level security applies), or the embedded server of
  ``SMARTCODERS_HOME`` when ``DATABASE_URL`` is unset.

The Parquet route needs no database account at all, which is how an analyst outside the
platform team gets the numbers: someone with access runs ``smartcoders export-frames``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final
from uuid import UUID

import polars as pl

from pipelines.frames import SCHEMAS, FrameError, Frames

if TYPE_CHECKING:
    from app.settings import Settings

PARQUET_ENV: Final = "SMARTCODERS_METRICS_PARQUET"
ORG_ENV: Final = "SMARTCODERS_METRICS_ORG"


class SourceError(RuntimeError):
    """No usable source: nothing configured, an empty folder, an unknown organisation."""


def read_parquet(folder: Path | str) -> Frames:
    """The frames in ``folder`` (``<frame>.parquet`` each; missing files are empty frames)."""
    path = Path(folder)
    if not path.is_dir():
        raise SourceError(f"{path} is not a folder of Parquet frames")
    found = {name: path / f"{name}.parquet" for name in SCHEMAS if (path / f"{name}.parquet").is_file()}
    if not found:
        raise SourceError(f"{path} holds none of {', '.join(f'{n}.parquet' for n in SCHEMAS)}")
    try:
        return Frames.of(**{name: pl.scan_parquet(file) for name, file in found.items()})
    except FrameError as exc:
        raise SourceError(f"{path}: {exc}") from exc


def write_parquet(frames: Frames, folder: Path | str) -> list[Path]:
    """Write every frame to ``folder/<frame>.parquet`` (the folder is created); returns the files."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, frame in frames.items():
        target = path / f"{name}.parquet"
        frame.collect().write_parquet(target)
        written.append(target)
    return written


def read_database(org_id: UUID, *, horizon: datetime | None = None) -> Frames:
    """One organisation's frames from the installed engine, in one read-only snapshot."""
    from datalayer.queries import metrics

    with metrics.analyst_snapshot(org_id) as scope:
        frames = metrics.read_frames(scope, SCHEMAS, horizon=horizon)
    return Frames.of(**frames)


def org_id_for(slug: str) -> UUID:
    """The id of the organisation with short name ``slug``; SourceError when there is none."""
    from datalayer.queries import orgs
    from datalayer.scope import auth_scope

    with auth_scope() as scope:
        org_id = orgs.id_by_slug(scope, slug)
    if org_id is None:
        raise SourceError(f"no organisation with slug {slug!r}")
    return org_id


@contextmanager
def database(settings: Settings | None = None) -> Iterator[None]:
    """Connect this process to the app's database for the block (``DATABASE_URL``, else the
    embedded server of ``SMARTCODERS_HOME``), as the app's restricted role; no Redis."""
    from app.settings import load_settings
    from datalayer import db, embedded
    from datalayer.engine import make_engine
    from datalayer.scope import install_engine

    settings = settings or load_settings()
    server = None
    if settings.database_url is None:
        server = embedded.start_postgres(settings.smartcoders_home)
        url = server.app_url
    else:
        url = settings.database_url_with_tls(settings.database_url.get())
    engine = make_engine(
        url, pool_size=1, statement_timeout_ms=settings.db_statement_timeout_ms, application_name="smartcoders-analyst"
    )
    try:
        with db.connections_restored():  # whatever engine the process had comes back afterwards
            install_engine(engine)
            yield
    finally:
        engine.dispose()
        if server is not None:
            server.stop()


def load(environ: Mapping[str, str] | None = None) -> Frames:
    """The frames the environment points at (see the module docstring), collected once."""
    env = os.environ if environ is None else environ
    folder = env.get(PARQUET_ENV, "").strip()
    slug = env.get(ORG_ENV, "").strip()
    if folder:
        return read_parquet(folder).collected()
    if slug:
        with database():
            return read_database(org_id_for(slug)).collected()
    raise SourceError(
        f"set {PARQUET_ENV} to a folder of Parquet frames (smartcoders export-frames writes one), "
        f"or {ORG_ENV} to an organisation's slug to read it from the database"
    )
