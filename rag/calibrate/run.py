"""`paleon calibrate`: trials on the collection's references, the fit, stored as the next
version when there are enough references to fit."""

from dataclasses import dataclass

from configs.calibration import Calibration
from rag.calibrate.fit import Fit, fit
from rag.calibrate.store import CalibrationStore
from rag.calibrate.trials import collect
from rag.knowledge import KnowledgeBase
from rag.result import CalibrationInfo
from rag.specimen_migration import migrate
from rag.specimens import SpecimenIndex


@dataclass(frozen=True)
class Calibrated:
    fit: Fit
    stored: CalibrationInfo | None  # None: the defaults stay (fit.reason says why)


def calibrate(index: SpecimenIndex, kb: KnowledgeBase, defaults: Calibration, encoder: str,
              k: int, store: CalibrationStore | None = None,
              sample: int = 1500) -> Calibrated:
    migrate(index)
    result = fit(collect(index, kb, k, sample), defaults)
    stored = store.save(result.calibration, result.figures, encoder) \
        if result.fitted and store is not None else None
    return Calibrated(result, stored)


def describe(calibrated: Calibrated) -> str:
    result = calibrated.fit
    if not result.fitted:
        return f"calibration: {result.reason}"
    c, f = result.calibration, result.figures
    version = f"version {calibrated.stored.version}" if calibrated.stored else "not stored"
    return (
        f"calibration {version}: fitted on {f['trials']:.0f} reference photos of "
        f"{f['groups']:.0f} groups ({f['specimens']:.0f} specimens), each searched against the "
        f"other specimens\n"
        f"  temperature {c.temperature}, open-set similarity {c.open_set_similarity}, "
        f"confidence map slope {c.confidence_slope} offset {c.confidence_offset}, "
        f"threshold {c.threshold}\n"
        f"  top-1 {f['top1']:.1%}, ECE {f['ece']:.3f}, identified and right "
        f"{f['identified_right']:.1%}, identified and wrong {f['identified_wrong']:.1%}"
        + (f", groups left out named {f['open_set_named']:.1%}" if "open_set_named" in f
           else ""))
