"""`paleon eval`: identification measured on a labelled folder, split by specimen."""

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

from configs import Settings
from paleon.tools.serve_command import local_services


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.encoders import build_encoder
    from rag.evaluate import evaluate
    from rag.knowledge import load_knowledge
    from rag.specimens import SpecimenIndex, connect

    settings = Settings()
    try:
        with local_services(settings):
            encoder = build_encoder(args.encoder, threads=os.cpu_count())
            index = SpecimenIndex(connect(settings.milvus_uri, settings.milvus_token_value),
                                  dim=encoder.dim)
            report = evaluate(Path(args.folder), encoder, index, load_knowledge(),
                              settings.calibration, k=args.top_k or settings.top_k,
                              holdout=args.holdout, calibrate=args.calibrate,
                              group_by=args.group_by, ages=_ages_file(args.ages))
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
    oc = report.outcome_correct
    lines = [
        f"queries {report.queries} ({report.query_specimens} specimens) against "
        f"{report.references} references; calibration: {report.calibration_note}",
        f"top-1 {report.top1:.1%} (balanced over groups {report.balanced_top1:.1%})   "
        f"top-5 {report.top5:.1%}   ECE {report.ece:.3f}   Brier {report.brier:.3f}   "
        f"AURC {report.aurc:.3f}   NLL {report.nll:.3f}",
        *([f"with the stated age ({report.with_age} queries): top-1 {report.top1:.1%}, "
           f"without it {report.top1_without_prior:.1%}; fixed {report.fixed_by_prior}, "
           f"broken {report.broken_by_prior}"] if report.top1_without_prior is not None
          else []),
        f"identified: {oc['identified']['right']} right, {oc['identified']['wrong']} wrong; "
        f"rolled up: {oc['rolled_up']['right']} right, {oc['rolled_up']['wrong']} wrong; "
        f"unidentified: {oc['unidentified']}",
        f"answers: right {report.answers['right']}, vague {report.answers['vague']}, wrong "
        f"{report.answers['wrong']}, none {report.answers['none']}; right balanced over "
        f"groups {report.right_balanced:.1%}; told 'not a fossil' {report.not_a_fossil_said}",
        "", "per-class recall:",
        *(f"  {label:<{width}} {recall:6.1%}" for label, recall in report.per_class_recall.items()),
        "", "confusion (rows: true, columns: predicted top-1, in column order):",
        *(f"  {i:>2} {label:<{width}} " + " ".join(
            f"{report.confusion.get(label, {}).get(c, 0):3d}" for c in columns)
          for i, label in enumerate(labels)),
        "  columns: " + ", ".join(f"{i}={c}" for i, c in enumerate(columns)),
    ]
    lines += [f"unreadable: {u}" for u in report.unreadable]
    return "\n".join(lines)


def add_parser(commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="measure identification on DIR/<label>/[<specimen>/]*.jpg|png (top-1, "
        "calibration, outcomes)")
    evaluate.add_argument("folder")
    evaluate.add_argument("--holdout", type=float, default=None, metavar="FRACTION",
                          help="split DIR by specimen: this share of each label's specimens "
                               "are queries, the rest are indexed as references in a "
                               "temporary collection")
    evaluate.add_argument("--group-by", metavar="REGEX",
                          help="name each photo's specimen from its file name: the first "
                               "group of REGEX, or its match (else one sub-folder per "
                               "specimen, or each photo its own)")
    evaluate.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    evaluate.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True,
                          help="with --holdout, fit the calibration on the references "
                               "(default); without, use the collection's stored fit")
    evaluate.add_argument("--ages", metavar="FILE",
                          help="YAML/JSON of label: stated age, applied as the age prior "
                               "(or name folders <label>@<age>); top-1 with and without it")
    evaluate.add_argument("--top-k", type=int, default=None, help="neighbours (TOP_K)")
    evaluate.add_argument("--encoder", default="efficientnet-lite0")
    evaluate.set_defaults(func=cmd_eval)
