"""Settings groups, and the flat environment names the README documents."""

import pytest
from pydantic import ValidationError

from configs import Settings


def test_flat_arguments_go_to_their_groups():
    settings = Settings(max_files=3, job_processing_timeout_s=8, openai_api_key="sk-test-key",
                        uploads={"long_side": 512})
    assert (settings.uploads.max_files, settings.uploads.long_side) == (3, 512)
    assert settings.jobs.processing_timeout_s == 8
    assert settings.openai.api_key.get_secret_value() == "sk-test-key"
    assert settings.uploads.body_bytes == 3 * settings.uploads.max_file_bytes + 2**20


def test_flat_and_nested_environment_names(monkeypatch):
    # The environment is the thing under test here: its source reads os.environ.
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "1000000")
    monkeypatch.setenv("SUPABASE_JWT_ALGORITHMS", '["ES256"]')
    monkeypatch.setenv("LOGIN_WINDOW_S", "60")
    monkeypatch.setenv("JOB_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("JOBS__MAX_ATTEMPTS", "7")  # the nested form wins
    settings = Settings()
    assert settings.uploads.max_pixels == 1_000_000
    assert settings.supabase.jwt_algorithms == ["ES256"]
    assert settings.login.window_s == 60
    assert settings.jobs.max_attempts == 7


def test_bad_values_and_unknown_group_fields_are_refused():
    with pytest.raises(ValidationError, match="max_files"):
        Settings(max_files=0)
    with pytest.raises(ValidationError, match="max_filez"):
        Settings(uploads={"max_filez": 3})
    # The upload buffer holds at least one whole body, or a large upload never fits.
    with pytest.raises(ValidationError, match="buffer_bytes"):
        Settings(max_file_bytes=60 * 2**20)
    assert Settings(max_file_bytes=60 * 2**20, upload_buffer_bytes=2**30).uploads.buffer_bytes \
        == 2**30


def test_an_argument_beats_the_environment_in_either_form(monkeypatch):
    monkeypatch.setenv("MAX_FILES", "7")
    monkeypatch.setenv("UPLOADS__MAX_FILE_BYTES", "2048")
    settings = Settings(max_files=3, max_file_bytes=4096)
    assert (settings.uploads.max_files, settings.uploads.max_file_bytes) == (3, 4096)


def test_a_job_task_carries_no_signing_secrets():
    settings = Settings(jwt_secret="j" * 40, api_key_pepper="p" * 40, openai_api_key="sk-x" * 4)
    task = settings.job_task()
    assert "j" * 40 not in task.model_dump_json() and not hasattr(task, "jwt_secret")
    assert task.openai.api_key is not None  # the task calls the vision model itself
