"""What the service exposes by default: its data directory, /metrics, an empty user store."""

import stat

from fastapi.testclient import TestClient

from auth.store import make_engine
from configs import Settings
from deployments.api import build_api
from deployments.services import Services
from tests.standins import StandInRetrieval
from tests.support import run_cli


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_the_user_store_are_private(tmp_path):
    data = tmp_path / "data"
    make_engine(f"sqlite:///{data / 'paleon.db'}")
    assert _mode(data) == 0o700 and _mode(data / "paleon.db") == 0o600
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    make_engine(f"sqlite:///{loose / 'paleon.db'}")  # an existing folder is tightened
    assert _mode(loose) == 0o700


def test_the_default_data_directory_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv("DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert Settings().data_dir == tmp_path / "paleon"


def test_metrics_need_their_token_outside_development(settings, tmp_path):
    values = {**settings, "metrics_token": None, "data_dir": str(tmp_path)}
    for environment, expected in (("production", 403), ("development", 200)):
        config = Settings(**{**values, "environment": environment})
        services = Services.build(config, StandInRetrieval(), lambda job_id, attempt: None)
        with TestClient(build_api(services)) as http:
            answer = http.get("/metrics")
        assert answer.status_code == expected, answer.text
        if expected == 403:
            assert "METRICS_TOKEN" in answer.json()["detail"]


def test_an_admin_command_never_creates_an_empty_user_store(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    done = run_cli("users", "set-tier", "mary@example.com", "pro",
                   env={"DATA_DIR": str(elsewhere), "DATABASE_URL": ""})
    assert done.returncode == 1 and "no user store at" in done.stderr
    assert not elsewhere.exists()
