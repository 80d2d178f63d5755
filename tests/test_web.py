"""The web page at /app in a real browser (Debian's Chromium, driven by Playwright) against
the real stack: register, identify a gallery photo, see the result with pictures, keys,
log out; /docs without a CDN. Screenshots go to $PALEON_SCREENSHOTS (default: a temporary
folder)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from paleon.tools import gallery
from tests.support import run_cli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (scripts/setup.sh)")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, settings, serve_app):
    root = tmp_path_factory.mktemp("gallery")
    gallery.write_gallery(root, per_class=20, classes=gallery.CLASSES[:5])
    env = {"MILVUS_URI": settings["milvus_uri"], "REDIS_URL": settings["redis_url"]}
    done = run_cli("ingest", str(root), env=env)
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("PALEON_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def offline_page(browser, serve_app, **context_options):
    """A page that may reach the service only (no CDN), collecting console errors."""
    context = browser.new_context(base_url=serve_app, **context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    outside: list[str] = []

    def only_the_service(route):
        if route.request.url.startswith((serve_app, "blob:", "data:")):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    page.route("**/*", only_the_service)
    return page, errors, outside


def register_on(page, shots: Path | None = None) -> str:
    """A new account through the page's form; its username."""
    page.goto("/app")
    page.get_by_role("button", name="New here? Register").click()
    name = "web" + os.urandom(4).hex()
    page.get_by_label("Email").fill(f"{name}@example.com")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("fossil-hunter-42")
    if shots is not None:
        page.screenshot(path=shots / "register.png")
    page.get_by_role("button", name="Register", exact=True).click()
    page.locator("#app").wait_for(state="visible")
    return name


def test_register_identify_keys_and_log_out(browser, serve_app, ingested, tmp_path, shots):
    page, errors, outside = offline_page(browser, serve_app)
    name = register_on(page, shots)
    assert name in page.locator("#who").inner_text()

    # A wrong file type is refused on the page, with the server's words.
    wrong = tmp_path / "notes.txt"
    wrong.write_text("not a photo")
    page.set_input_files("#files", str(wrong))
    assert "has content type 'text/plain'; accepted: image/jpeg, image/png, image/webp" \
        in page.locator("#upload-error").inner_text()

    photo = tmp_path / "ammonite.jpg"
    photo.write_bytes(gallery.held_out("ammonoids", 1, seed=33_000)[0])
    page.set_input_files("#files", str(photo))
    assert page.locator("#upload-error").inner_text() == ""
    assert page.locator("#previews img").count() == 1
    page.get_by_label("Age of the rock (optional)").fill("Jurassic")
    page.get_by_role("button", name="Identify").click()
    page.locator("#result").wait_for(state="visible", timeout=60_000)
    assert page.locator("#progress").inner_text() == "Done"
    assert page.locator("#result .name").inner_text().startswith("Ammonoids")
    assert "left today" in page.locator("#quota").inner_text()
    assert page.locator(".timebar .range").count() == 1
    assert page.locator(".lineage li").count() >= 3
    # At least one similar specimen's picture loaded (a blob from the thumbnail route).
    page.wait_for_function("""() => [...document.querySelectorAll('.specimens img')]
        .some((img) => img.complete && img.naturalWidth > 0)""", timeout=30_000)
    page.screenshot(path=shots / "result.png", full_page=True)

    # History lists the job and opens it.
    page.locator("#jobs li").first.wait_for()
    assert "Ammonoids" in page.locator("#jobs li").first.inner_text()

    # An API key: shown once, then revoked.
    page.get_by_label("Key name").fill("script")
    page.get_by_role("button", name="Create key").click()
    page.locator("#new-key").wait_for(state="visible")
    assert page.locator("#new-key-value").inner_text().startswith("paleon_")
    page.get_by_role("button", name="Revoke key script").wait_for()
    page.screenshot(path=shots / "keys.png")
    page.get_by_role("button", name="Revoke key script").click()
    page.get_by_role("button", name="Revoke key script").wait_for(state="detached")

    page.get_by_role("button", name="Log out").click()
    page.locator("#signin").wait_for(state="visible")
    assert "logged out" in page.locator("#auth-error").inner_text()
    page.reload()  # the refresh token is gone: still signed out
    page.locator("#signin").wait_for(state="visible")
    assert errors == [], errors
    assert outside == [], outside


def test_staying_signed_in_across_a_reload(browser, serve_app):
    page, errors, _ = offline_page(browser, serve_app)
    register_on(page)
    page.reload()
    page.locator("#app").wait_for(state="visible")
    assert errors == [], errors


def test_a_phone_screen(browser, serve_app, shots):
    page, errors, _ = offline_page(browser, serve_app, viewport={"width": 390, "height": 844},
                                   is_mobile=True)
    page.goto("/app")
    page.locator("#signin").wait_for(state="visible")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.outerHTML")
    assert 'name="email"' in focused, focused
    page.screenshot(path=shots / "phone.png")
    assert errors == [], errors


def test_the_api_reference_loads_without_a_cdn(browser, serve_app):
    page, errors, outside = offline_page(browser, serve_app)
    page.goto("/docs")
    page.locator(".swagger-ui .info .title").wait_for(timeout=30_000)
    assert "Paleon" in page.locator(".swagger-ui .info .title").inner_text()
    assert outside == [], outside


def test_the_pages_own_logic(tmp_path):
    node = shutil.which("node")
    if node is None and not os.environ.get("CI"):
        pytest.skip("node is not installed")
    done = subprocess.run([node or "node", "--test", "tests/web/"], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout
