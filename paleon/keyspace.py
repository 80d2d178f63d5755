"""The Redis key namespace every Paleon process shares (jobs, quotas, sessions, throttles)."""

PREFIX = "paleon"


def key(*parts: str) -> str:
    """`paleon:<part>:<part>...`, the one shape of every Paleon key."""
    return ":".join((PREFIX, *parts))
