"""``--publish`` values → sinks: ``ws://HOST:PORT`` (:class:`WebSocketPublisher`, a JSON server) and
``osc://HOST:PORT`` or ``vmc://HOST:PORT`` (:class:`VMCPublisher`, VMC over UDP; ``?person=ID`` follows
one track id instead of the lowest, ``?root_motion=1`` moves the avatar's root), comma-separated."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ..pipeline import Sink

__all__ = ["ACCEPTED_FORMS", "check_publish", "make_publishers"]

ACCEPTED_FORMS = "ws://HOST:PORT, osc://HOST:PORT[?person=ID&root_motion=1] (or vmc://…), comma-separated"


def _bad(value: str, why: str) -> ValueError:
    return ValueError(f"--publish {value!r}: {why}; accepted: {ACCEPTED_FORMS}")


def _parse(value: str) -> tuple[str, str, int, dict[str, str]]:
    try:
        u = urlsplit(value)
        port = u.port
    except ValueError as e:
        raise _bad(value, str(e)) from None
    scheme = u.scheme.lower()
    if scheme not in ("ws", "osc", "vmc"):
        raise _bad(value, f"unknown scheme {scheme or '(none)'!r}")
    if not u.hostname or port is None or (u.path not in ("", "/")):
        raise _bad(value, "expected SCHEME://HOST:PORT")
    query = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
    allowed = {"ws": set(), "osc": {"person", "root_motion"}, "vmc": {"person", "root_motion"}}[scheme]
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise _bad(value, f"unknown option {unknown[0]!r}")
    if "person" in query and not query["person"].lstrip("-").isdigit():
        raise _bad(value, f"person={query['person']!r} is not a track id")
    return scheme, u.hostname, port, query


def check_publish(spec: str) -> list[tuple[str, str, int, dict[str, str]]]:
    """Validate a ``--publish`` value without starting anything (call it at argument time): one
    ``(value, scheme, host, port, options)`` per item; a bad one raises :class:`ValueError` with one line."""
    values = [v.strip() for v in (spec or "").split(",") if v.strip()]
    if not values:
        raise _bad(spec or "", "empty")
    return [(v, *_parse(v)) for v in values]


def make_publishers(spec: str) -> list[Sink]:
    """Parse every value first (a bad one raises :class:`ValueError` with one line), then start the sinks."""
    parsed = check_publish(spec)
    sinks: list[Sink] = []
    try:
        for value, scheme, host, port, query in parsed:
            if scheme == "ws":
                from .websocket import WebSocketPublisher

                sinks.append(WebSocketPublisher(host, port))
                continue
            from .vmc import VMCPublisher

            person = int(query["person"]) if "person" in query else None
            root_motion = query.get("root_motion", "0").lower() in ("1", "true", "yes", "on")
            sinks.append(VMCPublisher(host, port, person=person, root_motion=root_motion))
    except OSError as e:  # e.g. the port is taken
        for s in sinks:
            s.close()
        raise ValueError(f"--publish {value!r}: {e.strerror or e}") from None
    except (ValueError, RuntimeError):  # RuntimeError: websockets / python-osc not installed
        for s in sinks:
            s.close()
        raise
    return sinks
