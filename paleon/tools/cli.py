"""`paleon` command: serve, ingest, classify, users."""

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

from configs import Settings
from paleon.tools import calibrate_command
from paleon.tools.calibrate_command import calibrate_collection, open_collection
from paleon.tools.classify_command import cmd_classify
from paleon.tools.serve_command import DEFAULT_CONFIG, cmd_serve
from paleon.tools.serve_command import local_services as _services


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag.calibrate.store import EncoderMismatch
    from rag.ingest import ingest

    settings = Settings()
    try:
        with _services(settings):
            encoder, index, store = open_collection(settings, args.encoder)
            report = ingest(Path(args.folder), encoder, index, batch_size=args.batch_size,
                            group_by=args.group_by)
            knowledge = report.knowledge
            print(f"found {report.found} photos in {len(report.labels)} labels; added "
                  f"{report.added}, already present {report.already_present}; index holds "
                  f"{report.total_in_index}")
            print(f"knowledge base: {knowledge['entries']} entries, {knowledge['embedded']} "
                  f"embedded, {knowledge['removed']} removed")
            for problem in report.unreadable:
                print(f"skipped unreadable {problem}", file=sys.stderr)
            if args.calibrate:
                calibrate_collection(settings, encoder, index, store, None)
    except EncoderMismatch as exc:
        print(f"paleon ingest: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_sync_knowledge(args: argparse.Namespace) -> int:
    from rag.knowledge.index import sync_knowledge
    from rag.specimens import connect

    settings = Settings()
    report = sync_knowledge(connect(settings.milvus_uri, settings.milvus_token_value))
    print(f"knowledge base: {report['entries']} entries, {report['embedded']} embedded, "
          f"{report['removed']} removed")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.encoders import build_encoder
    from rag.evaluate import evaluate
    from rag.knowledge import load_knowledge
    from rag.specimens import SpecimenIndex, connect

    settings = Settings()
    try:
        with _services(settings):
            encoder = build_encoder(args.encoder, threads=os.cpu_count())
            index = SpecimenIndex(connect(settings.milvus_uri, settings.milvus_token_value),
                                  dim=encoder.dim)
            report = evaluate(Path(args.folder), encoder, index, load_knowledge(),
                              settings.calibration, k=args.top_k or settings.top_k,
                              holdout=args.holdout, calibrate=args.calibrate,
                              ages=_ages_file(args.ages))
    except (ValueError, FileNotFoundError, yaml.YAMLError) as exc:
        print(f"paleon eval: {exc}", file=sys.stderr)
        return 2
    print(render_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
        print(f"JSON written to {args.json}")
    return 0


def _ages_file(path: str | None) -> dict[str, str] | None:
    """A YAML or JSON mapping of label → stated age, e.g. `nautiloids: Miocene`."""
    if path is None:
        return None
    ages = yaml.safe_load(Path(path).read_text())
    if not isinstance(ages, dict) or not all(isinstance(k, str) for k in ages):
        raise ValueError(f"{path}: expected a mapping of label: age")
    return {label: str(age) for label, age in ages.items()}


def render_report(report) -> str:
    labels = sorted(report.confusion)
    predicted = sorted({p for row in report.confusion.values() for p in row} - set(labels))
    columns = labels + predicted
    width = max(len(c) for c in columns + ["true \\ predicted"])
    lines = [
        f"queries {report.queries} against {report.references} references",
        f"top-1 {report.top1:.1%}   top-5 {report.top5:.1%}   "
        f"ECE {report.ece:.3f}   NLL {report.nll:.3f}",
        *([f"with the stated age ({report.with_age} queries): top-1 {report.top1:.1%}, "
           f"without it {report.top1_without_prior:.1%}; fixed {report.fixed_by_prior}, "
           f"broken {report.broken_by_prior}"] if report.top1_without_prior is not None
          else []),
        "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())),
        "", "per-class recall:",
        *(f"  {label:<{width}} {recall:6.1%}" for label, recall in report.per_class_recall.items()),
        "", "confusion (rows: true, columns: predicted top-1, in column order):",
        *(f"  {i:>2} {label:<{width}} " + " ".join(
            f"{report.confusion.get(label, {}).get(c, 0):3d}" for c in columns)
          for i, label in enumerate(labels)),
        "  columns: " + ", ".join(f"{i}={c}" for i, c in enumerate(columns)),
    ]
    if report.fitted_temperature is not None:
        lines.append(f"\nfitted temperature {report.fitted_temperature} (NLL "
                     f"{report.fitted_nll:.3f}; now {report.calibration['temperature']}): set "
                     f"CALIBRATION__TEMPERATURE={report.fitted_temperature} to use it")
    lines += [f"unreadable: {u}" for u in report.unreadable]
    return "\n".join(lines)


def cmd_users(args: argparse.Namespace) -> int:
    from auth.store import UserStore, make_engine
    from paleon.errors import InvalidRequest

    settings = Settings()
    database = settings.sql_url.removeprefix("sqlite:///")
    if settings.sql_url.startswith("sqlite:///") and not Path(database).exists():
        # Never a new, empty store that would answer "no such user" for a real one.
        print(f"paleon: no user store at {database}: set DATA_DIR (or DATABASE_URL) to the "
              "service's, or start `paleon serve` once to create it", file=sys.stderr)
        return 1
    store = UserStore(make_engine(settings.sql_url))
    if args.action == "list":
        for user in store.all():
            print(f"{user.email}\t{user.username}\t{user.tier}\t{user.role}\t"
                  f"{user.provider}\t{user.created_at:%Y-%m-%d}")
        return 0
    try:
        if args.action == "set-role":
            user = store.set_role(args.email, args.role)
            print(f"{user.email} is now a {user.role} (within a few seconds on every replica)")
        else:
            user = store.set_tier(args.email, args.tier)
            print(f"{user.email} is now on the {user.tier} tier")
    except InvalidRequest as exc:
        print(f"paleon: {exc.detail}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paleon", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the service on the embedded default")
    serve.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    serve.add_argument("--high-throughput", action="store_true",
                       help="Ray Serve's HAProxy ingress and direct gRPC between replicas "
                            "(listens on all interfaces; see docs/benchmarks.md)")
    serve.add_argument("--dashboard", action="store_true",
                       help="open the Ray dashboard (loopback) once Ray is up, and say where "
                            "to watch replicas scale")
    serve.add_argument("--serve-proxy", action="store_true",
                       help="Serve's Python proxy on the public port, as `serve run` does, "
                            "instead of the HAProxy front (paleon/tools/front.py)")
    serve.set_defaults(func=cmd_serve)

    ingest = commands.add_parser("ingest", help="add DIR/<label>/*.jpg|png to the specimens")
    ingest.add_argument("folder")
    ingest.add_argument("--encoder", default="efficientnet-lite0")
    ingest.add_argument("--batch-size", type=int, default=32)
    ingest.add_argument("--group-by", metavar="REGEX",
                        help="name each photo's specimen from its file name: the first group "
                             "of REGEX, or its match (else DIR/<label>/<specimen>/*.jpg, or "
                             "each photo its own)")
    ingest.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True,
                        help="refit the calibration to the collection afterwards (default)")
    ingest.set_defaults(func=cmd_ingest)

    calibrate_command.add_parser(commands)

    sync = commands.add_parser(
        "sync-knowledge", help="bring Milvus's knowledge collection in step with fossils.yaml "
        "(serve and ingest do it too)")
    sync.set_defaults(func=cmd_sync_knowledge)

    evaluate = commands.add_parser(
        "eval", help="measure identification on DIR/<label>/*.jpg|png (top-1, top-5, ...)")
    evaluate.add_argument("folder")
    evaluate.add_argument("--holdout", type=float, default=None, metavar="FRACTION",
                          help="split DIR: this share of each label queries, the rest are "
                               "indexed as references in a temporary collection")
    evaluate.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    evaluate.add_argument("--calibrate", action="store_true",
                          help="fit the fusion temperature on the queries (lowest NLL)")
    evaluate.add_argument("--ages", metavar="FILE",
                          help="YAML/JSON of label: stated age, applied as the age prior "
                               "(or name folders <label>@<age>); top-1 with and without it")
    evaluate.add_argument("--top-k", type=int, default=None, help="neighbours (TOP_K)")
    evaluate.add_argument("--encoder", default="efficientnet-lite0")
    evaluate.set_defaults(func=cmd_eval)

    classify = commands.add_parser("classify", help="submit photos and print the result")
    classify.add_argument("photos", nargs="+")
    classify.add_argument("--url", default=os.environ.get("PALEON_URL", "http://127.0.0.1:8000"))
    classify.add_argument("--token", default=os.environ.get("PALEON_TOKEN"))
    classify.add_argument("--email", default=os.environ.get("PALEON_EMAIL"))
    classify.add_argument("--timeout", type=float, default=120)
    classify.add_argument("--webhook", metavar="URL",
                          help="also POST the job to this https URL, signed (README, Webhooks)")
    classify.add_argument("--webhook-events", nargs="+", choices=["start", "completed"],
                          help="which events the webhook gets (default: completed)")
    classify.set_defaults(func=cmd_classify)

    users = commands.add_parser("users", help="accounts in the user store (DATABASE_URL)")
    users.set_defaults(func=cmd_users)
    user_actions = users.add_subparsers(dest="action", required=True)
    user_actions.add_parser("list", help="every account: email, username, tier, role, "
                                         "provider")
    set_tier = user_actions.add_parser("set-tier", help="move an account to another tier")
    set_tier.add_argument("email")
    set_tier.add_argument("tier", choices=["free", "pro", "enterprise"])
    set_role = user_actions.add_parser(
        "set-role", help="user, reviewer (reviews corrections) or admin")
    set_role.add_argument("email")
    set_role.add_argument("role", choices=["user", "reviewer", "admin"])

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
