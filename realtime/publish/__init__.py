"""Streaming the bodies out of the live pipeline, as sinks (``realtime.pipeline.Sink``):

* :class:`WebSocketPublisher` — JSON per frame to every WebSocket client (``ws://HOST:PORT``);
* :class:`VMCPublisher` — one body per frame to avatar apps with the VMC protocol (OSC over UDP);
* :func:`make_publishers` — the ``--publish`` value (``ws://…,osc://…``) → those sinks.

The network libraries (``websockets``, ``python-osc``) are imported only when a publisher starts.
"""

from .factory import ACCEPTED_FORMS, check_publish, make_publishers
from .vmc import VMCPublisher
from .websocket import WebSocketPublisher

__all__ = ["ACCEPTED_FORMS", "VMCPublisher", "WebSocketPublisher", "check_publish", "make_publishers"]
