"""What each kind of process imports: only what its work needs (issue 10's memory goal).

Each check runs in a fresh interpreter, as a Ray worker starts: the setup hook first
(serve_config.yaml's runtime_env), then the deployment's module.
"""

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "pyarrow", "pymilvus", "openai", "torch", "sentence_transformers")


def _loaded_after(code: str) -> dict[str, bool]:
    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps({{m: sys.modules.get(m) is not None for m in {HEAVY!r}}}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


SETUP = "from paleon.worker_setup import setup; setup()\nimport ray.serve\n"


@pytest.mark.parametrize("module,needs", [
    ("deployments.ingress", set()),
    ("deployments.job_workers", set()),
    ("deployments.classifier", set()),  # torch is imported when the model is built
    ("deployments.retriever", {"pandas", "pymilvus"}),  # pymilvus needs pandas
])
def test_a_process_loads_only_what_it_needs(module, needs):
    loaded = _loaded_after(SETUP + f"import {module}")
    assert {name for name, there in loaded.items() if there} == needs


def test_without_the_hook_serve_brings_pandas_and_pyarrow():
    # What the hook saves: Serve imports pandas (and with it pyarrow) whenever it can.
    loaded = _loaded_after("import ray.serve")
    assert loaded["pandas"] and loaded["pyarrow"]


def test_after_the_hook_pandas_still_imports_for_who_needs_it():
    loaded = _loaded_after(SETUP + "import pandas\nassert pandas.DataFrame([{'a': 1}]).shape"
                                   " == (1, 1)\nfrom ray.serve._private import utils\n"
                                   "assert utils.pd is None")
    assert loaded["pandas"] and not loaded["pyarrow"]


def test_the_vision_model_loads_its_sdk_when_configured():
    loaded = _loaded_after(
        "from rag.vision_model import VisionModel\n"
        "VisionModel('sk-test', 'http://127.0.0.1:9/v1', 'm', 5.0, 0, 512)")
    assert loaded["openai"]
