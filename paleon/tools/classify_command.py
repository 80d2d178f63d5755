"""`paleon classify`: submit photos and follow the job (live stream, else long-polls)."""

import argparse
import getpass
import json
import os
import sys
import time
from pathlib import Path

import httpx
from tqdm import tqdm


def _token(client: httpx.Client, args: argparse.Namespace) -> str:
    if args.token:
        return args.token
    if not args.email:
        raise SystemExit("paleon: give --token (or PALEON_TOKEN), or --email to log in")
    password = os.environ.get("PALEON_PASSWORD") or getpass.getpass("password: ")
    response = client.post("/auth/login", json={"email": args.email, "password": password})
    if response.status_code != 200:
        raise SystemExit(f"paleon: login failed: {response.json().get('detail')}")
    return response.json()["access_token"]


def cmd_classify(args: argparse.Namespace) -> int:
    kinds = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
             ".webp": "image/webp"}
    files = []
    for photo in args.photos:
        path = Path(photo)
        if path.suffix.lower() not in kinds:
            raise SystemExit(f"paleon: {path}: use a .jpg, .png or .webp photo")
        files.append(("image_files", (path.name, path.read_bytes(), kinds[path.suffix.lower()])))
    with httpx.Client(base_url=args.url, timeout=60) as client:
        headers = {"Authorization": f"Bearer {_token(client, args)}"}
        form = {} if not args.webhook else {
            "webhook": args.webhook, "webhook_events_filter": args.webhook_events or []}
        submitted = client.post("/classify-async/", headers=headers, files=files, data=form)
        if submitted.status_code != 200:
            print(f"paleon: {submitted.status_code}: {submitted.json().get('detail')}",
                  file=sys.stderr)
            return 1
        job_id = submitted.json()["job_id"]
        deadline = time.monotonic() + args.timeout
        with tqdm(desc=f"job {job_id}", bar_format="{desc} [{elapsed}]") as bar:
            job = _follow(client, job_id, headers, deadline, bar)
        if job.get("status") not in FINAL:
            print(f"paleon: job {job_id} still {job.get('status')}", file=sys.stderr)
            return 1
    print(json.dumps(job, indent=2))
    return 0 if job["status"] == "completed" else 1


FINAL = ("completed", "failed", "canceled")


def _progress(job: dict) -> str:
    where = job.get("queue_position")
    start = job.get("estimated_start_s")
    if job.get("status") == "pending" and where is not None:
        return f"queued, {where} ahead" + (f", starting in ~{start:.0f} s" if start else "")
    return str(job.get("status", "?"))


def _follow(client: httpx.Client, job_id: str, headers: dict, deadline: float,
            bar: tqdm) -> dict:
    """The job until it ends or the deadline passes: by its live stream, falling back on
    long-polls (Prefer: wait) if the stream cannot be had."""
    job: dict = {}
    try:
        left = max(deadline - time.monotonic(), 1.0)
        with client.stream("GET", f"/result/{job_id}/events", headers=headers,
                           timeout=httpx.Timeout(30, read=min(left, 30))) as stream:
            if stream.status_code == 200:
                for line in stream.iter_lines():
                    if line.startswith("data: "):
                        job = json.loads(line[6:])
                        bar.set_description_str(f"job {job_id}: {_progress(job)}")
                    if job.get("status") in FINAL or time.monotonic() > deadline:
                        return job
    except httpx.HTTPError:
        pass  # the long-poll below picks up from here
    while time.monotonic() < deadline and job.get("status") not in FINAL:
        wait = max(1, min(30, int(deadline - time.monotonic())))
        answer = client.get(f"/result/{job_id}", timeout=wait + 30,
                            headers={**headers, "Prefer": f"wait={wait}"})
        if answer.status_code != 200:
            raise SystemExit(f"paleon: {answer.status_code}: {answer.json().get('detail')}")
        job = answer.json()
        bar.set_description_str(f"job {job_id}: {_progress(job)}")
    return job
