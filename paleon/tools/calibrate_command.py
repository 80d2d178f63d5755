"""`paleon calibrate`, and the calibration and encoder checks `paleon ingest` runs."""

import argparse
import os
import sys

from configs import Settings
from paleon.tools.serve_command import local_services


def open_collection(settings: Settings, encoder_name: str, record: bool = True):
    """The encoder, the specimens collection and its stored metadata; refuses an encoder
    other than the one the collection's embeddings came from, and records it for a new
    collection when `record` (ingest, which is about to write)."""
    from rag.calibrate.store import CalibrationStore
    from rag.encoders import LITE0, build_encoder
    from rag.specimens import SpecimenIndex, connect

    encoder = build_encoder(encoder_name, threads=os.cpu_count())
    client = connect(settings.milvus_uri, settings.milvus_token_value)
    index = SpecimenIndex(client, dim=encoder.dim)
    store = CalibrationStore(client, index.collection)
    holds_rows = index.exists() and index.count() > 0
    if record or holds_rows:
        store.check_encoder(encoder.identity.key(), LITE0.key() if holds_rows else "")
    return encoder, index, store


def calibrate_collection(settings: Settings, encoder, index, store, k: int | None) -> int:
    from rag.calibrate.run import calibrate, describe
    from rag.knowledge import load_knowledge

    calibrated = calibrate(index, load_knowledge(), settings.calibration,
                           encoder.identity.key(), k or settings.top_k, store)
    print(describe(calibrated))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from rag.calibrate.store import EncoderMismatch

    settings = Settings()
    try:
        with local_services(settings):
            encoder, index, store = open_collection(settings, args.encoder, record=False)
            if not index.exists():
                print("paleon calibrate: no reference collection yet: `paleon ingest DIR` "
                      "first", file=sys.stderr)
                return 2
            return calibrate_collection(settings, encoder, index, store, args.top_k)
    except EncoderMismatch as exc:
        print(f"paleon calibrate: {exc}", file=sys.stderr)
        return 2


def cmd_reembed(args: argparse.Namespace) -> int:
    """Move the collection to another encoder, then refit its calibration."""
    from pathlib import Path

    from rag.calibrate.store import CalibrationStore
    from rag.encoders import LITE0, build_encoder
    from rag.reembed import reembed
    from rag.specimens import SpecimenIndex, connect

    settings = Settings()
    with local_services(settings):
        encoder = build_encoder(args.encoder, threads=os.cpu_count())
        client = connect(settings.milvus_uri, settings.milvus_token_value)
        index = SpecimenIndex(client, dim=encoder.dim)
        if not index.exists():
            print("paleon reembed: no reference collection yet", file=sys.stderr)
            return 2
        store = CalibrationStore(client, index.collection)
        before = store.encoder() or LITE0.key()
        if before == encoder.identity.key():
            print(f"paleon reembed: the collection already holds {before} embeddings")
            return 0
        report = reembed(index, encoder, Path(args.photos))
        store.moved_to(encoder.identity.key())
        print(f"moved {report.moved} reference photos from {before} to "
              f"{encoder.identity.key()}; {len(report.not_moved)} could not be moved; the "
              f"old collection is kept as {report.kept_as}")
        for line in report.not_moved:
            print(f"not moved: {line}", file=sys.stderr)
        return calibrate_collection(settings, encoder, SpecimenIndex(client, encoder.dim),
                                    store, None)


def add_parser(commands) -> None:
    calibrate = commands.add_parser(
        "calibrate", help="fit the confidence, the open set and the identification threshold "
        "to the reference collection, and store the fit with it (every replica picks it up)")
    calibrate.add_argument("--encoder", default="efficientnet-lite0")
    calibrate.add_argument("--top-k", type=int, default=None, help="neighbours (TOP_K)")
    calibrate.set_defaults(func=cmd_calibrate)

    move = commands.add_parser(
        "reembed", help="move the collection to another encoder: embed every reference again "
        "from its photo, say which could not be, and refit the calibration")
    move.add_argument("photos", help="the folder the references were ingested from")
    move.add_argument("--encoder", required=True)
    move.set_defaults(func=cmd_reembed)
