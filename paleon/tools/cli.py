"""`paleon` command: serve, ingest, classify, users."""

import argparse
import os
import sys
from pathlib import Path

from configs import Settings
from paleon.tools import calibrate_command, eval_command
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

    eval_command.add_parser(commands)

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
