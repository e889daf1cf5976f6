"""``sentiment-pipeline``: sample data, the read API server and its keys, and the migration from PostgreSQL."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from sentiment_pipeline import sample


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sentiment-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate-sample", help="write realistic landing files: <out>/YYYY-MM-DD/*.csv|*.jsonl")
    generate.add_argument("--out", type=Path, required=True, help="landing root to write into")
    generate.add_argument("--days", type=int, default=3, help="number of days, ending at --end")
    generate.add_argument("--rows-per-day", type=int, default=500)
    generate.add_argument("--extra-cols", type=int, default=40, help="custom-field columns in the CSV export")
    generate.add_argument("--end", type=date.fromisoformat, help="last day (YYYY-MM-DD); default yesterday, UTC")
    generate.add_argument("--clean", action="store_true", help="no deliberately bad rows")
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument(
        "--story",
        action="store_true",
        help="a story instead of alike days: weekly rhythm, a product incident 7 days before --end, conversations that recover after it",
    )
    serve = commands.add_parser("serve", help="run the read API (OpenAPI docs at /docs)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    keys = commands.add_parser("api-key", help="manage API keys (stored hashed in SQLite)")
    key_commands = keys.add_subparsers(dest="action", required=True)
    create = key_commands.add_parser("create", help="make a key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", default=[], choices=["pii"], help="pii: see e-mails and phones unmasked")
    key_commands.add_parser("list", help="names, scopes and dates (never the keys)")
    revoke = key_commands.add_parser("revoke", help="stop a key from working")
    revoke.add_argument("--name", required=True)
    sources = commands.add_parser("sources", help="check a sources file (SENTIMENT_SOURCES) against sample exports")
    source_commands = sources.add_subparsers(dest="action", required=True)
    check = source_commands.add_parser("check", help="validate FILE; show which profile each landing file matches and how it maps")
    check.add_argument("file", type=Path, help="the sources TOML file")
    check.add_argument("landing_files", type=Path, nargs="*", metavar="LANDING_FILE", help="sample exports to try it on")
    classifier = commands.add_parser("classifier", help="the message classifier's shipped parameters")
    classifier_commands = classifier.add_subparsers(dest="action", required=True)
    fit = classifier_commands.add_parser("fit", help="fit it on data/support_messages.csv (needs scikit-learn: the [train] extra)")
    fit.add_argument("--out", type=Path, help="where to write (default: the package's data/support_classifier.json)")
    _migration_commands(commands)
    args = parser.parse_args(argv)
    if args.command in ("import", "reconcile", "export"):
        sys.exit(migrate(args))
    if args.command == "serve":
        import uvicorn

        from sentiment_pipeline.api.app import create_app

        uvicorn.run(create_app(), host=args.host, port=args.port)
    elif args.command == "api-key":
        manage_keys(parser, args)
    elif args.command == "sources":
        sys.exit(check_sources(args.file, args.landing_files))
    elif args.command == "classifier":
        from importlib import resources

        from sentiment_pipeline import sentiment

        out = args.out or resources.files("sentiment_pipeline").joinpath(sentiment.CLASSIFIER_FILE)
        parameters = sentiment.write_classifier(out)
        print(f"wrote {out}: {len(parameters['terms']):,} terms, fitted by {parameters['fitted_by']}")
    elif args.command == "generate-sample":
        if args.days < 1 or args.rows_per_day < 0 or args.extra_cols < 0:
            parser.error("--days must be at least 1; --rows-per-day and --extra-cols not negative")
        spec = sample.SampleSpec(
            out=args.out,
            days=args.days,
            rows_per_day=args.rows_per_day,
            extra_cols=args.extra_cols,
            end=args.end,
            dirty=not args.clean,
            seed=args.seed,
            story=args.story,
        )
        written = sample.generate(spec)
        days = sorted({p.parent.name for p in written})
        print(f"wrote {len(written)} files for {days[0]}...{days[-1]} under {args.out}")


def _migration_commands(commands: argparse._SubParsersAction) -> None:
    """import / reconcile / export postgres: the migration from the PostgreSQL platform."""
    dsn_help = "libpq DSN or postgresql:// URI (default: $SENTIMENT_POSTGRES_DSN; prefer that, or ~/.pgpass, for the password)"
    for name, summary in (
        ("import", "read PostgreSQL tables into one landing file per day (then backfill the range)"),
        ("reconcile", "per day: rows in PostgreSQL against tickets + rejects in the lake; exit 1 on any difference"),
    ):
        command = commands.add_parser(name, help=summary).add_subparsers(dest="system", required=True).add_parser("postgres", help=summary)
        command.add_argument("--dsn", help=dsn_help)
        command.add_argument("--table", action="append", required=True, help="a table (or view); repeat to join a layout split over tables")
        command.add_argument(
            "--source", required=True, help="the [[source]] entry of the sources file (SENTIMENT_SOURCES) mapping the columns"
        )
        command.add_argument("--start", type=date.fromisoformat, required=True, help="first UTC day of created_at (YYYY-MM-DD)")
        command.add_argument("--end", type=date.fromisoformat, required=True, help="last UTC day (YYYY-MM-DD)")
    summary = "write partitions of an asset into a PostgreSQL table, replacing each exported day (for a rollback)"
    export = commands.add_parser("export", help=summary).add_subparsers(dest="system", required=True).add_parser("postgres", help=summary)
    export.add_argument("--dsn", help=dsn_help)
    export.add_argument("--asset", required=True, help="e.g. ticket, sentiment, daily_sentiment")
    export.add_argument("--start", type=date.fromisoformat, required=True)
    export.add_argument("--end", type=date.fromisoformat, required=True)
    export.add_argument("--table", help="target table (default: the asset's name); created when missing")


def migrate(args: argparse.Namespace) -> int:
    """Run one migration command; a problem is one line on stderr and exit status 2."""
    from sentiment_pipeline import migration
    from sentiment_pipeline.ingest.sources import SourcesFileError
    from sentiment_pipeline.settings import load_settings

    settings = load_settings()
    try:
        dsn = migration.resolve_dsn(args.dsn)
        if args.command == "export":
            print(f"exporting '{args.asset}' {args.start}...{args.end} to {migration.shown_dsn(dsn)}, table {args.table or args.asset}")
            days = migration.export_days(dsn, args.asset, args.start, args.end, settings.roots, args.table, progress=_exported)
            print(f"done: {sum(d.rows for d in days):,} rows over {len(days)} days")
            return 0
        profile = migration.source_profile(args.source, settings.sources_file)
        if args.command == "import":
            print(f"importing {', '.join(args.table)} from {migration.shown_dsn(dsn)} into {settings.roots.landing_root}")
            days = migration.import_days(dsn, args.table, profile, args.start, args.end, settings.roots.landing_root, progress=_imported)
            print(f"done: {sum(d.rows for d in days):,} rows over {sum(1 for d in days if d.rows)} days with rows")
            print(
                f"next: dagster asset materialize -m sentiment_pipeline.definitions --select '*' --partition-range {args.start}...{args.end}"
            )
            return 0
        reconciled = migration.reconcile_days(dsn, args.table, profile, args.start, args.end, settings.roots)
    except (migration.MigrationError, SourcesFileError) as error:
        print(f"{args.command} postgres: {error}", file=sys.stderr)
        return 2
    print(migration.reconcile_table(reconciled))
    return 0 if migration.all_match(reconciled) else 1


def _imported(day) -> None:
    print(
        f"  {day.day}  {day.rows:>9,} row{'' if day.rows == 1 else 's'}  {day.file or '(none: the import file of this day, if any, removed)'}"
    )


def _exported(day) -> None:
    overflow = f"  ({day.overflow_fields} custom fields in custom_fields)" if day.overflow_fields else ""
    print(f"  {day.day}  {day.rows:>9,} row{'' if day.rows == 1 else 's'}{overflow}")


def check_sources(file: Path, landing_files: list[Path]) -> int:
    """Print what the sources file defines and, per sample file, the profile it matches, how
    its columns map, and what an ingest of it alone gives; 1 if the sources file is broken."""
    from datetime import UTC, datetime

    from sentiment_pipeline.ingest import LandingFile, ingest_day
    from sentiment_pipeline.ingest.sources import BUILT_IN, SourcesFileError, load_profiles

    try:
        profiles = load_profiles(file)
    except SourcesFileError as error:
        print(error, file=sys.stderr)
        return 1
    built_in = {p.name for p in BUILT_IN}
    own = [p.name for p in profiles if p.name not in built_in]
    adjusted = [p.name for p in profiles if p.name in built_in and p.origin == "sources file"]
    print(f"{file}: OK. Own profiles: {', '.join(own) or 'none'}; built-in profiles adjusted: {', '.join(adjusted) or 'none'}.")
    for path in landing_files:
        day = ingest_day([LandingFile(str(path), path=str(path))], datetime.now(UTC), profiles)
        outcome = day.outcome()
        print(f"\n{path}")
        for summary in outcome.sources:
            print(f"  profile: {summary['profile']}")
            print(f"  columns: {summary.get('mapped', '')}")
            if "date order" in summary:
                print(f"  dates:   {summary['date order']}")
            print(f"  rows: {summary['rows']}, tickets: {summary['tickets']}, rejects: {summary['rejects']}")
        for reason in outcome.rejects.get_column("reason").unique(maintain_order=True).head(5):
            print(f"  reject:  {reason}")
    return 0


def manage_keys(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from sentiment_pipeline.api.keys import KeyStore

    store = KeyStore()
    if args.action == "create":
        try:
            key = store.create(args.name, set(args.scope))
        except ValueError as error:
            parser.error(str(error))
        print(key)
        print(f"(key '{args.name}' scopes={sorted(args.scope) or '-'}; shown only now, store it safely)", file=sys.stderr)
    elif args.action == "list":
        for key in store.list():
            state = f"revoked {key.revoked_at}" if key.revoked_at else "active"
            print(f"{key.name}\tscopes={','.join(sorted(key.scopes)) or '-'}\tcreated {key.created_at}\t{state}")
    elif not store.revoke(args.name):
        parser.error(f"no active key named {args.name!r}")
    else:
        print(f"revoked '{args.name}'")


if __name__ == "__main__":
    main()
