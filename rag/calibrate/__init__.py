"""Calibration fitted to a collection: trials on its own references (trials.py), the fit
(fit.py) and where every replica reads it (store.py)."""
