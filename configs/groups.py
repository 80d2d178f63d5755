"""Settings groups, each shaped like the part of Paleon that consumes it."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from configs.calibration import Calibration
from paleon.priority import WorkPriority


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TierLimits(_Group):
    """Jobs a user may submit per UTC day, by tier."""

    free: int = Field(default=10, ge=0)
    pro: int = Field(default=200, ge=0)
    enterprise: int = Field(default=5000, ge=0)

    def for_tier(self, tier: str) -> int:
        return int(getattr(self, tier, self.free))


class UploadSettings(_Group):
    """What POST /classify-async/ accepts, and the shape of a stored photo."""

    max_files: int = Field(default=5, ge=1)
    max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(default=40_000_000, ge=10_000)
    long_side: int = Field(default=1024, ge=64)  # of the stored, normalised photo
    # Submissions an Ingress replica holds in memory at once (photos as uploaded, ≤ 5 ×
    # max_file_bytes each) while it writes them to Redis; the rest wait their turn.
    concurrent_uploads: int = Field(default=8, ge=1, le=256)
    # Upload bodies an Ingress replica receives into memory at once, in bytes: each
    # reserves its Content-Length before it is read; one that waits 10 s for room is 503.
    # The photos are copied once more when read, so memory peaks near twice this.
    buffer_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)
    # Refused uploads a user may make per UTC day before every upload is refused (429).
    refused_per_day: int = Field(default=20, ge=1)
    # Uploads one account may have in progress at once on a replica (429 beyond), and the
    # slowest average rate a body may arrive at once `rate_window_s` have passed (408).
    in_flight_per_user: int = Field(default=2, ge=1, le=64)
    min_rate_bytes_s: int = Field(default=16 * 1024, ge=0)
    rate_window_s: float = Field(default=30.0, gt=0)

    @property
    def body_bytes(self) -> int:
        """A whole multipart body: every photo at its limit plus room for the form framing."""
        return self.max_files * self.max_file_bytes + 2**20

    @model_validator(mode="after")
    def _one_body_fits(self) -> "UploadSettings":
        if self.buffer_bytes < self.body_bytes:
            raise ValueError(
                f"buffer_bytes ({self.buffer_bytes}) must hold one whole upload body "
                f"({self.body_bytes} bytes: max_files × max_file_bytes + 1 MiB)")
        return self


class JobSettings(_Group):
    """A job's deadlines and retries (jobs/store.py), its task and the reaper."""

    pending_timeout_s: float = Field(default=120.0, gt=0)
    processing_timeout_s: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    # An attempt that found a deployment unavailable (a replica died or is restarting) is
    # retried this much later and does not count against max_attempts, up to
    # max_hand_backs times (≈ 10 minutes of outage at the defaults).
    unavailable_retry_s: float = Field(default=5.0, gt=0)
    max_hand_backs: int = Field(default=100, ge=1)
    result_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    reaper_interval_s: float = Field(default=2.0, gt=0)
    # Job-worker actors per Ingress replica (deployments/job_workers.py), each running up to
    # worker_concurrency attempts at once on its event loop; the replica waits for them
    # before it reports ready. An attempt mostly waits on the deployments, so few suffice.
    # 16 keeps a CPU classifier's batches full; jobs beyond it wait `pending`, in the queue
    # (queue_position), rather than claimed and waiting inside the classifier's.
    workers: int = Field(default=1, ge=1, le=64)
    worker_concurrency: int = Field(default=16, ge=1, le=1000)
    # CPU each job worker reserves (it decodes the job's photos; the rest is waiting).
    task_cpus: float = Field(default=0.1, gt=0, le=4)
    # How the processes that do a job's work (the job workers' decoding, the
    # VisionClassifier and Retriever replicas, the milvus-lite that `paleon serve` starts)
    # yield the CPU to requests, so that accepting uploads and answering polls go first when it is
    # saturated: a backlog waits `pending`, a request does not. "idle": Linux's SCHED_IDLE,
    # the CPU only when nothing else wants it (docs/benchmarks.md: 640x480 submit p99
    # 166 ms in run 27, 526 niced in run 26); "nice": only the niceness below, a share kept
    # however busy the machine (for one shared with other busy services).
    work_scheduling: Literal["idle", "nice"] = "idle"
    # Niceness of the same processes (0: no change). It only ever raises a process's
    # niceness: Ray starts its workers at RAY_worker_niceness (15 unless set; `paleon
    # serve` sets 0).
    work_niceness: int = Field(default=10, ge=0, le=19)
    # Requests a user may hold waiting on jobs at once per Ingress replica (long-polls:
    # beyond it they answer at once; live streams: 429).
    waiting_requests_per_user: int = Field(default=20, ge=1)
    # Jobs canceled before they started that are given back to a user's quota per UTC day
    # (beyond it a cancel still cancels, and the job stays counted).
    canceled_refunds_per_day: int = Field(default=10, ge=0)
    # Seconds an ingress replica that is going away waits for the jobs it launched.
    shutdown_grace_s: float = Field(default=10.0, ge=0)

    @property
    def work_priority(self) -> WorkPriority:
        return WorkPriority(self.work_niceness, self.work_scheduling == "idle")


class WebhookSettings(_Group):
    """Webhook deliveries (jobs/webhooks.py): how long to try, and where they may go."""

    # Seconds before each retry, with ±10 % jitter: about 28 h in all at the default.
    retry_schedule_s: tuple[float, ...] = Field(default=(5, 300, 1800, 7200, 18000, 36000, 36000),
                                                min_length=1)
    timeout_s: float = Field(default=10.0, gt=0, le=60)
    # Outside development a webhook must be https and resolve to public addresses only;
    # networks listed here (CIDR) are allowed as well, over http too: a receiver inside
    # the operator's own network.
    allowed_networks: tuple[str, ...] = ()
    # Deliveries a replica makes at once; a delivery it starts is leased to it this long.
    concurrency: int = Field(default=16, ge=1, le=256)
    lease_s: float = Field(default=60.0, gt=10)
    poll_s: float = Field(default=1.0, gt=0)


class LoginSettings(_Group):
    """Throttles of the anonymous routes (auth/throttle.py): failed logins and registrations."""

    # Failed logins in `window_s`: refused (429) per account and address, and per address.
    failures_per_account_address: int = Field(default=5, ge=1)
    failures_per_address: int = Field(default=50, ge=1)
    window_s: int = Field(default=900, ge=1)
    # Account-wide, over every address: only slowed down, never refused.
    slow_down_after: int = Field(default=10, ge=1)
    max_delay_s: float = Field(default=5.0, ge=0, le=30)
    # Registrations per client address in `registration_window_s`, successful or not.
    registrations_per_address: int = Field(default=10, ge=1)
    registration_window_s: int = Field(default=3600, ge=1)
    # IPv6 clients share a bucket per network of this prefix: a subscriber's /64 is theirs.
    ipv6_prefix: int = Field(default=64, ge=32, le=128)


class SupabaseSettings(_Group):
    """Google sign-in through Supabase Auth; off while `url` is unset."""

    url: str | None = None  # https://<project>.supabase.co
    anon_key: SecretStr | None = None  # only for legacy HS256 projects (GoTrue)
    jwt_algorithms: list[str] = ["ES256", "RS256"]
    jwks_refresh_cooldown_s: float = Field(default=30.0, ge=0)


class OpenAISettings(_Group):
    """An OpenAI-compatible vision model refines the identification when a key is set."""

    api_key: SecretStr | None = None
    base_url: str = "https://api.openai.com/v1"  # vLLM, Ollama, ... speak it too
    model: str = "gpt-4o-mini"
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)  # on 429, 5xx and timeouts
    image_side: int = Field(default=768, ge=64, le=2048)  # photos are downscaled to it


class JobTaskSettings(_Group):
    """The settings a job task runs with (Settings.job_task()): no signing secrets travel
    with a task; the OpenAI key does, since the task calls the vision model."""

    redis_url: str
    jobs: JobSettings
    uploads: UploadSettings  # the job normalises its photos
    top_k: int
    calibration: Calibration
    openai: OpenAISettings
