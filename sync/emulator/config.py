"""Settings of one emulator instance: who may log in, and which faults to inject."""

from __future__ import annotations

from dataclasses import dataclass, field

DEMO_TOKEN = "demo-token"
DEMO_BADGE = "1001"
DEMO_PIN = "4321"


@dataclass
class EmulatorConfig:
    """How the emulator behaves.  Every fault knob is off by default.

    Tokens and PINs are left out of the repr, so a logged config leaks no secret.

    Rates are probabilities per request (0..1), drawn from one random generator seeded with
    ``fault_seed`` so that a seeded test sees the same faults on every run.
    """

    #: Tokens accepted as ``Cookie: user=<token>`` without a login.
    tokens: set[str] = field(default_factory=lambda: {DEMO_TOKEN}, repr=False)
    #: badge -> PIN accepted by ``POST /api/device-login/``.
    users: dict[str, str] = field(default_factory=lambda: {DEMO_BADGE: DEMO_PIN}, repr=False)
    latency_ms: float = 0
    #: The latency of each request varies uniformly by up to this much either way.
    latency_jitter_ms: float = 0
    #: Requests in flight beyond this number are answered 429.
    max_concurrency: int | None = None
    #: Retry-After (seconds) sent with a 429; None sends no Retry-After header.
    retry_after_s: float | None = 0.05
    #: Share of requests answered 500 or 503 before they have any effect.
    error_rate: float = 0
    #: Share of committed product-process writes whose connection is then closed unanswered.
    drop_rate: float = 0
    #: A token stops working after this many requests (401 from then on).
    session_requests: int | None = None
    fault_seed: int | None = None
    #: Test knob: accept a second record on the same product_id + line_number.
    allow_duplicate_lines: bool = False
    #: Test knob: a successful POST answers without the new record's id.
    omit_id_in_response: bool = False
    #: SQLite file that keeps the data across restarts; None keeps it in memory only.
    db_path: str | None = None
    #: Test knob: /api/products and /api/processes answer 403 when False.
    products_readable: bool = True

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate"):
            rate = getattr(self, name)
            if not 0 <= rate <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        for name in ("latency_ms", "latency_jitter_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.session_requests is not None and self.session_requests < 1:
            raise ValueError("session_requests must be at least 1")
        if self.retry_after_s is not None and self.retry_after_s < 0:
            raise ValueError("retry_after_s must not be negative")
