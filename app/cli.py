"""The ``smartcoders`` command line (names pinned in ARCHITECTURE §8)."""

from __future__ import annotations

import argparse
import signal
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import bootstrap
from app.authz import Role
from app.errors import ConfigError, MigrationError, SmartCodersError, ValidationFailed
from app.security.passwords import policy_problems
from app.services import audit
from app.services.audit import Actor
from app.services.auth import EMAIL_RE, create_organisation, normalise_email

CLI_ACTOR = Actor(None, "cli")


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    sys.stderr.write(f"smartcoders: {text}\n")


def _needs_owner(rt: bootstrap.Runtime) -> None:
    from datalayer import health

    _, pending = health.migrations_state()
    if pending:
        raise MigrationError(f"migrations {pending} are not applied; run `smartcoders migrate` first")


def _serve(args: argparse.Namespace, *, scheduler: bool, demo: bool) -> int:
    from tornado.ioloop import IOLoop

    from app.jobs.registry import make_scheduler
    from app.server import make_server

    rt = bootstrap.start(apply_migrations=True if scheduler else None)
    _needs_owner(rt)
    if scheduler:
        try:
            _load_codes(rt)
        except MigrationError as exc:  # serving does not need the table: the validator reads the code set files
            err(f"code_reference not loaded: {exc.message}")
    _warm_engine(rt.settings.smartcoders_home / "cache")
    host = args.host or rt.settings.host
    port = args.port or rt.settings.port
    logins = None
    if demo:
        from app.services.demo import assign_charts, import_charts, seed

        logins = seed(rt.ctx)
        demo_charts = import_charts()
        demo_assigned = assign_charts()
    sched = make_scheduler(rt.ctx, blocking=False) if scheduler else None
    server = make_server(rt.ctx, host=host, port=port)
    server.start()
    if sched is not None:
        sched.start()
    loop = IOLoop.current()

    def shutdown(*_: Any) -> None:
        loop.add_callback_from_signal(loop.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    out(f"SmartCoders is running at http://{'localhost' if host in {'127.0.0.1', '0.0.0.0'} else host}:{port}")  # noqa: S104
    if logins is not None:
        out("")
        out(f"Demo organisation: Demo Health (slug demo). Password for every login: {logins.password}")
        for email in logins.emails:
            out(f"  {email}")
        if logins.generated:
            out("(Set SMARTCODERS_DEMO_PASSWORD to choose the password.)")
        totals = demo_charts.as_json()
        out(
            f"Demo charts from {totals['files']} Synthea files: {totals['charts_created']} imported now, "
            f"{totals['charts_skipped']} already there."
        )
        if demo_assigned:
            out(f"Assigned {demo_assigned} of them to coder@demo.test; the rest wait on /assign.")
    out("Press Ctrl+C to stop.")
    try:
        loop.start()
    finally:
        if sched is not None:
            sched.shutdown(wait=False)
        server.stop()
        rt.stop()
    return 0


def _warm_engine(cache: Path) -> None:
    """Load the code sets in the background so the first validation does not wait for them."""
    import threading
    from datetime import date

    from app.codesets.icd10cm import default_codeset
    from app.codesets.pcs_search import default_pcs_search
    from app.validation import ChartInput, DiagnosisRow, ProcedureRow, default_engine

    def warm() -> None:
        default_codeset(cache).search("e11", 1)  # builds the autocomplete index (~1 s)
        # The first validation loads the grouper's and the comorbidity maps' tables (~0.2 s): pay it
        # here rather than on a coder's first edit.
        default_engine().validate(
            ChartInput(
                age=60,
                sex="F",
                discharge_date=date.today(),  # noqa: DTZ011 - any recent date selects the current grouper
                diagnoses=(DiagnosisRow("J18.9", principal=True), DiagnosisRow("I10")),
                procedures=(ProcedureRow("0DTJ4ZZ"),),
            )
        )
        default_pcs_search().search("0dt", 1)  # the procedure autocomplete index (~0.8 s)

    threading.Thread(target=warm, name="engine-warmup", daemon=True).start()


def cmd_serve(args: argparse.Namespace) -> int:
    return _serve(args, scheduler=True, demo=args.demo)


def cmd_web(args: argparse.Namespace) -> int:
    return _serve(args, scheduler=False, demo=False)


def cmd_worker(args: argparse.Namespace) -> int:
    from app.jobs.registry import make_scheduler

    rt = bootstrap.start(apply_migrations=None)
    _needs_owner(rt)
    scheduler = make_scheduler(rt.ctx, blocking=True)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    out("SmartCoders worker running; press Ctrl+C to stop.")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if scheduler.running:  # Ctrl+C: stop the jobs and the outbox wake-up before their database goes
            scheduler.shutdown(wait=False)
        rt.stop()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    rt = bootstrap.start(apply_migrations=False)
    try:
        from datalayer.migrate import migrate

        applied = migrate(rt.services.owner_url)
        out("Applied: " + ", ".join(f"{m.version:04d}_{m.name}" for m in applied) if applied else "Up to date.")
        out(_load_codes(rt))
    finally:
        rt.stop()
    return 0


def _load_codes(rt: bootstrap.Runtime, *, force: bool = False) -> str:
    """Fill `code_reference` for the current code-set versions (skipped when already there)."""
    from app.codesets.load import load_code_reference

    cache = rt.settings.smartcoders_home / "cache"
    return load_code_reference(rt.services.owner_url, force=force, cache_dir=cache).summary()


def cmd_load_codes(args: argparse.Namespace) -> int:
    rt = bootstrap.start(apply_migrations=None)
    try:
        _needs_owner(rt)
        out(_load_codes(rt, force=args.force))
    finally:
        rt.stop()
    return 0


def cmd_create_org(args: argparse.Namespace) -> int:
    rt = bootstrap.start()
    try:
        org_id = create_organisation(
            name=args.name.strip(),
            manager_email=None,
            manager_name=None,
            password_hash=None,
            actor=CLI_ACTOR,
            slug=args.slug,
        )
        from datalayer.queries import orgs
        from datalayer.scope import org_scope

        with org_scope(org_id) as scope:
            org = orgs.get(scope)
        out(f"Created organisation {org.name!r} with slug {org.slug!r} (id {org.id}).")
    finally:
        rt.stop()
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from datalayer.queries import orgs, users
    from datalayer.scope import auth_scope, org_scope

    email = normalise_email(args.email)
    if not EMAIL_RE.match(email):
        raise ValidationFailed(f"{args.email!r} is not a valid email address")
    try:
        role = Role(args.role)
    except ValueError:
        raise ValidationFailed(f"--role must be one of {', '.join(r.value for r in Role)}") from None
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    problems = policy_problems(password, user_inputs=(email,))
    if problems:
        raise ValidationFailed(f"password not accepted: {problems[0]}")
    rt = bootstrap.start()
    try:
        with auth_scope() as scope:
            org_id = orgs.id_by_slug(scope, args.org)
            if org_id is None:
                raise ValidationFailed(f"no organisation with slug {args.org!r}")
            if users.find_for_login(scope, email) is not None:
                raise ValidationFailed(f"{email} already has an account")
        name = args.name or email.split("@")[0].replace(".", " ").title()
        with org_scope(org_id) as scope:
            user = users.insert(
                scope,
                user_id=uuid.uuid4(),
                email=email,
                name=name,
                role=role,
                password_hash=rt.ctx.hasher.hash(password),
                now=datetime.now(UTC),
            )
            audit.record(
                scope,
                action="user_created",
                actor=CLI_ACTOR,
                object_type="user",
                object_id=user.id,
                details={"role": role.value, "via": "cli"},
            )
        out(f"Created {role.value} {email} in {args.org} (id {user.id}).")
    finally:
        rt.stop()
    return 0


def cmd_webhook_secret(args: argparse.Namespace) -> int:
    """Print the organisation's webhook signing secret (``whsec_…``) for its sending system."""
    from app.security.webhook_signing import org_secret
    from datalayer.queries import orgs
    from datalayer.scope import auth_scope

    rt = bootstrap.start()
    try:
        with auth_scope() as scope:
            if orgs.id_by_slug(scope, args.org) is None:
                raise ValidationFailed(f"no organisation with slug {args.org!r}")
        out(org_secret(rt.settings.webhook_signing_secret.get(), args.org.strip().lower()))
    finally:
        rt.stop()
    return 0


def cmd_verify_audit_log(args: argparse.Namespace) -> int:
    from app.jobs.registry import checkpoint_store, verify_all_chains

    rt = bootstrap.start()
    try:
        store = checkpoint_store(rt.ctx)
        reports = verify_all_chains(store, "verify-audit-log")
        broken = [r for r in reports if not r.ok]
        for r in reports:
            label = str(r.org_id) if r.org_id else "platform"
            if r.ok:
                out(f"ok      {label}: {r.rows} rows, head {r.head_seq}")
            else:
                out(f"BROKEN  {label}: first broken row {r.first_broken_seq}: {r.problem}")
        if not broken:
            store.save(reports)
            out(f"Audit log intact: {len(reports)} chains, {sum(r.rows for r in reports)} rows.")
        return 1 if broken else 0
    finally:
        rt.stop()


def cmd_import(args: argparse.Namespace) -> int:
    """Synthea bundles from files, folders and .zip archives into an organisation.

    Exit 0 when every file was imported or skipped as a non-patient file, 2 when any file
    failed (the summary is printed either way; the other files' charts are kept).
    """
    import orjson

    from app.services.imports import FileResult, import_paths
    from datalayer.queries import orgs
    from datalayer.scope import auth_scope

    rt = bootstrap.start()
    try:
        with auth_scope() as scope:
            org_id = orgs.id_by_slug(scope, args.org)
        if org_id is None:
            raise ValidationFailed(f"no organisation with slug {args.org!r}")

        def report(index: int, result: FileResult) -> None:
            if result.error:
                err(f"{result.name}: {result.error}")

        summary = import_paths(org_id, args.paths, source="cli", on_file=report)
        data = summary.as_json()
        if args.json:
            sys.stdout.write(orjson.dumps(data).decode() + "\n")
        else:
            out(
                f"Imported {data['files']} files into {args.org}: {data['charts_created']} charts created, "
                f"{data['charts_skipped']} already present, {len(data['skipped_files'])} files skipped, "
                f"{len(data['errors'])} failed (job {data['job_id']})."
            )
        return 2 if summary.failed else 0
    finally:
        rt.stop()


def cmd_validate(args: argparse.Namespace) -> int:
    """One JSON object, or JSON Lines of objects, in; one JSON object per input line out.

    A bad line gets an error on stderr naming the line and field, and an error object on stdout
    (so output line N still answers input line N); the batch goes on and the exit status is 2.
    """
    import orjson

    from app.validation import InputError, default_engine, parse_chart

    try:
        if args.file in (None, "-"):
            data = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as fh:
                data = fh.read()
    except OSError as exc:
        err(f"cannot read {args.file}: {exc.strerror}")
        return 2
    try:
        whole = orjson.loads(data)
        lines: list[tuple[int, Any, str | None]] = [(1, whole, None)]
    except orjson.JSONDecodeError:
        lines = []
        for n, raw in enumerate(data.splitlines(), start=1):
            if raw.strip():
                try:
                    lines.append((n, orjson.loads(raw), None))
                except orjson.JSONDecodeError as exc:
                    lines.append((n, None, f"not JSON ({exc})"))
    engine = default_engine()
    bad = 0
    for n, obj, problem in lines:
        ident = obj.get("id") if isinstance(obj, dict) else None
        fields: dict[str, str] = {"$": problem} if problem else {}
        if not fields:
            try:
                result = engine.validate(parse_chart(obj))
            except InputError as exc:
                fields = exc.fields
            else:
                sys.stdout.buffer.write(orjson.dumps(result.as_json()) + b"\n")
                continue
        bad += 1
        for path, message in fields.items():
            err(f"line {n}: {path}: {message}")
        error = {"code": "invalid_input", "line": n, "fields": fields}
        sys.stdout.buffer.write(orjson.dumps({"id": ident, "error": error}) + b"\n")
    sys.stdout.flush()
    return 2 if bad else 0


def cmd_rollup(args: argparse.Namespace) -> int:
    """Recompute metric_rollups now (what the metric-rollups job does every few minutes); exit 2
    when an organisation failed (the others are done)."""
    from app.jobs.rollups import WINDOW_DAYS, rollup_all
    from datalayer.queries import orgs
    from datalayer.scope import auth_scope

    rt = bootstrap.start()
    try:
        org_ids = None
        if args.org:
            with auth_scope() as scope:
                org_id = orgs.id_by_slug(scope, args.org)
            if org_id is None:
                raise ValidationFailed(f"no organisation with slug {args.org!r}")
            org_ids = [org_id]
        run = rollup_all(days=None if args.all else (args.days or WINDOW_DAYS), org_ids=org_ids)
        for r in run.done:
            window = f"from {r.since:%Y-%m-%d}" if r.since else "whole history"
            out(f"{r.org_id}: {r.rows:,} rollup rows ({window}); {r.changed:,} written, {r.deleted:,} removed")
        for org_id in run.failed:
            err(f"{org_id}: rollup failed (see the log)")
        return 2 if run.failed else 0
    finally:
        rt.stop()


def cmd_export_frames(args: argparse.Namespace) -> int:
    """Write an organisation's metrics frames as Parquet for analysts (pipelines.sources); audited."""
    import polars as pl

    from datalayer.queries import orgs
    from datalayer.scope import auth_scope, org_scope
    from pipelines.sources import read_database, write_parquet

    folder = Path(args.folder)
    if folder.exists() and not folder.is_dir():
        raise ValidationFailed(f"{folder} exists and is not a folder")
    rt = bootstrap.start()
    try:
        with auth_scope() as scope:
            org_id = orgs.id_by_slug(scope, args.org)
        if org_id is None:
            raise ValidationFailed(f"no organisation with slug {args.org!r}")
        frames = read_database(org_id).collected()
        counts = {name: int(frame.select(pl.len()).collect().item()) for name, frame in frames.items()}
        with org_scope(org_id) as scope:
            audit.record(
                scope,
                action="data_exported",
                actor=CLI_ACTOR,
                object_type="organization",
                object_id=org_id,
                details={"dataset": "metrics_frames", "format": "parquet", "via": "cli", "rows": counts},
            )
        try:
            files = write_parquet(frames, folder)
        except OSError as exc:
            err(f"cannot write to {folder}: {exc.strerror or exc}")
            return 2
        out(f"Wrote {len(files)} Parquet frames of {args.org} to {folder}:")
        for name, n in counts.items():
            out(f"  {name}.parquet  {n:,} rows")
    finally:
        rt.stop()
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import orjson

    from app.bench import BENCHES

    report = BENCHES[args.bench].run(args)
    if args.json:
        sys.stdout.write(orjson.dumps({"bench": args.bench, **report.figures}).decode() + "\n")
    else:
        out(report.render())
    return 0


def _add_bench(sub: Any) -> None:
    from app.bench import load_all

    sp = sub.add_parser("bench", help="measure speed and memory (medians and percentiles)")
    benches = sp.add_subparsers(dest="bench", required=True)
    for bench in load_all().values():
        bp = benches.add_parser(bench.name, help=bench.help)
        bp.add_argument("--json", action="store_true", help="print the figures as one JSON object")
        if bench.configure is not None:
            bench.configure(bp)
        bp.set_defaults(func=cmd_bench)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smartcoders", description="SmartCoders: medical coding from intake to audit.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
        ("serve", cmd_serve, "web server and scheduled jobs in one process (embedded services when no URLs)"),
        ("web", cmd_web, "web server only (production: several behind nginx)"),
    ):
        sp = sub.add_parser(name, help=help_text)
        if name == "serve":
            sp.add_argument("--demo", action="store_true", help="create the Demo Health organisation and logins")
        sp.add_argument("--host", help="interface to listen on (default HOST)")
        sp.add_argument("--port", type=int, help="port (default PORT)")
        sp.set_defaults(func=func)
    sub.add_parser("worker", help="scheduled jobs only").set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="apply pending database migrations as the schema owner").set_defaults(
        func=cmd_migrate
    )
    sp = sub.add_parser("load-codes", help="load ICD-10-CM/PCS into code_reference (skipped when present)")
    sp.add_argument("--force", action="store_true", help="replace the current versions if already loaded")
    sp.set_defaults(func=cmd_load_codes)
    sp = sub.add_parser("create-org", help="create an organisation")
    sp.add_argument("name")
    sp.add_argument("--slug", help="short name used by --org options (default: from the name)")
    sp.set_defaults(func=cmd_create_org)
    sp = sub.add_parser("create-user", help="create a user; the password is read from stdin")
    sp.add_argument("--org", required=True, help="organisation slug")
    sp.add_argument("--email", required=True)
    sp.add_argument("--role", required=True, choices=[r.value for r in Role])
    sp.add_argument("--name", help="display name (default: from the email)")
    sp.set_defaults(func=cmd_create_user)
    sp = sub.add_parser("webhook-secret", help="print an organisation's webhook signing secret (whsec_...)")
    sp.add_argument("--org", required=True, help="organisation slug")
    sp.set_defaults(func=cmd_webhook_secret)
    sub.add_parser("verify-audit-log", help="recompute every audit hash chain; exit 1 if tampered").set_defaults(
        func=cmd_verify_audit_log
    )
    sp = sub.add_parser("import", help="import Synthea FHIR bundles (files, folders, .zip) into an organisation")
    sp.add_argument("paths", nargs="+", metavar="PATH", help="bundle files, folders of them, or .zip archives")
    sp.add_argument("--org", required=True, help="organisation slug")
    sp.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    sp.set_defaults(func=cmd_import)
    sp = sub.add_parser("validate", help="validate charts: one JSON object or JSON Lines, from FILE or stdin")
    sp.add_argument("file", nargs="?", metavar="FILE|-", help="input file (default: standard input)")
    sp.set_defaults(func=cmd_validate)
    sp = sub.add_parser("rollup", help="recompute metric_rollups now (the metric-rollups job)")
    sp.add_argument("--org", help="one organisation's slug (default: every organisation)")
    window = sp.add_mutually_exclusive_group()
    window.add_argument("--days", type=_days, metavar="N", help="the last N days (default 14)")
    window.add_argument("--all", action="store_true", help="the whole history")
    sp.set_defaults(func=cmd_rollup)
    sp = sub.add_parser("export-frames", help="write an organisation's metrics frames as Parquet (for notebooks)")
    sp.add_argument("folder", metavar="FOLDER", help="where to write <frame>.parquet files (created if needed)")
    sp.add_argument("--org", required=True, help="organisation slug")
    sp.set_defaults(func=cmd_export_frames)
    _add_bench(sub)
    return p


def _days(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of days") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, MigrationError) as exc:
        err(str(exc))
        return 2
    except SmartCodersError as exc:
        err(exc.message)
        return 2


if __name__ == "__main__":
    sys.exit(main())
