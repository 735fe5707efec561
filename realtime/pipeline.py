"""The live pipeline: one thread per stage, joined by bounded queues, assembled in one place.

::

    capture ──q──► detect+track ──q──► crop+flow ──q──► inference ──q──► outputs
    (source)        (MediaPipe)         (PersonInputs)   (EngineSession)   (sinks: writer, views)

Each stage is a small class with one ``process(packet)`` method: it reads a :class:`Packet` from its
input queue, adds its result to it and passes it on. Queues are bounded (``pipeline.queue_size``)
with an explicit policy: a live source's capture queue keeps only the newest frames (``drop_oldest``:
capture never waits for slow stages, keeps only the newest frame and counts drops; every queue then
holds one packet, so no stale frames pile up between stages); files played with ``--no-realtime`` use ``block`` everywhere so
that no frame is lost. End of input and :meth:`LivePipeline.stop` travel as a sentinel so that every thread
ends after flushing what it holds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Sequence

from .placement import place_people
from .results import FrameResults
from .sources import Frame, FrameSource
from .stats import PipelineStats

if TYPE_CHECKING:  # for the annotations only: the stages get these objects made by realtime.graph
    from engines import EngineSession
    from training.pose_smoothing import PoseSmoother

    from .detection import MultiPersonPose, PersonPose
    from .person_inputs import FrameInputs, PersonInputs

__all__ = ["BoundedQueue", "LivePipeline", "Packet", "Sink", "Stage"]

logger = logging.getLogger(__name__)

_END = object()  # the sentinel that closes a queue


class BoundedQueue:
    """A bounded FIFO with a full-queue policy: ``block`` (wait for room) or ``drop_oldest``."""

    def __init__(self, size: int, policy: str = "block", on_drop: Callable[[int], None] = lambda n: None) -> None:
        if policy not in ("block", "drop_oldest"):
            raise ValueError(f"queue policy must be 'block' or 'drop_oldest', not {policy!r}")
        self.q: queue.Queue = queue.Queue(maxsize=size)
        self.policy, self.on_drop = policy, on_drop

    def put(self, item: Any, stop: Optional[threading.Event] = None) -> None:
        dropping = self.policy == "drop_oldest" and item is not _END
        while True:
            try:
                if dropping:
                    self.q.put_nowait(item)  # a live source never waits
                else:
                    self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                if item is _END or self.policy == "block":
                    if stop is not None and stop.is_set() and item is not _END:
                        return
                    continue
                try:
                    old = self.q.get_nowait()
                    if old is _END:  # never drop the end marker
                        self.q.put_nowait(old)
                        return
                    self.on_drop(1)
                except queue.Empty:
                    pass

    def get(self, timeout: float = 0.1) -> Any:
        return self.q.get(timeout=timeout)

    def qsize(self) -> int:
        """Items waiting now (approximate, as ``queue.Queue.qsize``)."""
        return self.q.qsize()

    def close(self) -> None:
        self.put(_END)


@dataclass
class Packet:
    """One frame on its way through the pipeline."""

    frame: Frame
    people: list[PersonPose] = field(default_factory=list)  # found and tracked, with their landmarks
    lost: list[int] = field(default_factory=list)  # track ids that ended at this frame
    inputs: Optional[FrameInputs] = None  # the model's inputs per person (crops, flow, landmarks)
    results: Optional[FrameResults] = None  # the people's bodies and where they stand (realtime.results)
    t_output: Optional[float] = None

    @property
    def ids(self) -> list[int]:
        return [p.id for p in self.people]


class Sink(Protocol):
    """Receives every finished packet on the output thread (writers, views); ``close`` flushes."""

    def write(self, packet: Packet) -> None: ...

    def close(self) -> None: ...


class Stage:
    """A pipeline stage: ``process`` one packet (return None to drop it). Runs on its own thread."""

    name = "stage"

    def process(self, packet: Packet) -> Optional[Packet]:
        raise NotImplementedError

    def finish(self) -> None:
        """Called once on the stage's thread after the last packet."""


class DetectTrack(Stage):
    name = "detect+track"

    def __init__(self, pose: MultiPersonPose) -> None:
        self.pose = pose
        self.alive: set[int] = set()

    def process(self, packet: Packet) -> Packet:
        """People seen in this frame; ``lost``: tracks the tracker dropped (missed > max_missed frames).
        A track missed for a few frames keeps its id and its temporal state."""
        packet.people = self.pose.process(packet.frame.image, packet.frame.index)
        alive = {t.id for t in self.pose.tracker.tracks}
        packet.lost = sorted(self.alive - alive)
        self.alive = alive
        return packet

    def finish(self) -> None:
        self.pose.close()


class CropFlow(Stage):
    name = "crop+flow"

    def __init__(self, builder: PersonInputs) -> None:
        self.builder = builder

    def process(self, packet: Packet) -> Packet:
        for tid in packet.lost:
            self.builder.forget(tid)
        if packet.people:
            f = packet.frame
            packet.inputs = self.builder.build(f.image, packet.people, f.position_s if f.position_s is not None else f.t_capture)
        return packet


class Inference(Stage):
    """The engine on the frame's people, then the body filter (``training.pose_smoothing``), then where each
    person stands (``realtime.placement``), once for every sink."""

    name = "inference"

    def __init__(self, session: EngineSession, smoother: Optional[PoseSmoother] = None) -> None:
        self.session = session
        self.smoother = smoother

    def process(self, packet: Packet) -> Packet:
        for tid in packet.lost:
            self.session.release(tid)
            if self.smoother is not None:
                self.smoother.forget(tid)
        if packet.inputs is not None and packet.inputs.ids:
            ids, f = packet.inputs.ids, packet.frame
            outputs = self.session.process(ids, packet.inputs.inputs)
            if self.smoother is not None:
                outputs = self.smoother.smooth(ids, outputs, f.position_s if f.position_s is not None else f.t_capture)
            h, w = f.image.shape[:2]
            placement = place_people(outputs, packet.inputs.matrices, packet.inputs.crops.shape[1], (w, h))
            packet.results = FrameResults.from_outputs(ids, outputs, placement)
        return packet


class Outputs(Stage):
    name = "outputs"

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    def process(self, packet: Packet) -> Packet:
        packet.t_output = time.monotonic()
        for sink in self.sinks:
            sink.write(packet)
        return packet

    def finish(self) -> None:
        for sink in self.sinks:
            sink.close()


class LivePipeline:
    """Capture from ``source`` through ``stages`` (in order); the last stage's packets are dropped after it.

    ``capture_policy``: ``drop_oldest`` for live sources, ``block`` for files read as fast as possible.
    """

    def __init__(self, source: FrameSource, stages: Sequence[Stage], queue_size: int = 4, capture_policy: str = "drop_oldest",
                 stats: Optional[PipelineStats] = None) -> None:
        self.source, self.stages = source, list(stages)
        self.stats = stats or PipelineStats()
        self.stop_event = threading.Event()
        # A live source keeps only its newest frame and stages hand over one packet at a time: buffering
        # would only add latency. Files read with ``block`` buffer ``queue_size`` packets per queue.
        size = 1 if capture_policy == "drop_oldest" else queue_size
        self.queues = [BoundedQueue(size, capture_policy, lambda n: self.stats.drop("capture", n))]
        self.queues += [BoundedQueue(size, "block") for _ in self.stages[:-1]]
        self.threads: list[threading.Thread] = []
        self.error: Optional[BaseException] = None
        self.frames_out = 0
        #: When each thread (capture, then the stages) started its current item; None while it waits.
        self.busy_since: list[Optional[float]] = [None] * (len(self.stages) + 1)

    # -- threads --------------------------------------------------------------------------------------
    def _capture(self) -> None:
        out = self.queues[0]
        try:
            while not self.stop_event.is_set():
                start = self.busy_since[0] = time.monotonic()
                frame = self.source.read()
                self.busy_since[0] = None
                if frame is None:
                    break
                self.stats.add("capture", (time.monotonic() - start) * 1e3)
                out.put(Packet(frame), self.stop_event)
        except BaseException as exc:  # noqa: BLE001 - reported by run(), the pipeline ends cleanly
            self.error = exc
        finally:
            out.close()

    def _stage(self, i: int) -> None:
        stage, inq = self.stages[i], self.queues[i]
        outq = self.queues[i + 1] if i + 1 < len(self.queues) else None
        try:
            while True:
                try:
                    packet = inq.get()
                except queue.Empty:
                    continue
                if packet is _END:
                    break
                if self.error is not None:
                    continue  # drain: another stage failed
                start = self.busy_since[i + 1] = time.monotonic()
                result = stage.process(packet)
                self.busy_since[i + 1] = None
                self.stats.add(stage.name, (time.monotonic() - start) * 1e3)
                if result is None:
                    continue
                if outq is not None:
                    outq.put(result)
                else:
                    self.frames_out += 1
                    done = result.t_output or time.monotonic()
                    self.stats.add(PipelineStats.END_TO_END, (done - result.frame.t_capture) * 1e3)
        except BaseException as exc:  # noqa: BLE001
            if self.error is None:
                self.error = exc
            self.stop_event.set()
            self.source.stop()
            while True:  # let the upstream threads finish
                try:
                    if inq.get(timeout=0.5) is _END:
                        break
                except queue.Empty:
                    if not any(t.is_alive() for t in self.threads[: i + 1]):
                        break
        finally:
            try:
                stage.finish()
            except BaseException as exc:  # noqa: BLE001
                self.error = self.error or exc
            if outq is not None:
                outq.close()

    # -- control --------------------------------------------------------------------------------------
    def stalled(self, seconds: float) -> Optional[str]:
        """The name of a thread that has been busy with one item for more than ``seconds`` (a hung camera
        read or a stuck stage), or None. The kiosk's watchdog restarts the pipeline on it."""
        now = time.monotonic()
        names = ["capture"] + [s.name for s in self.stages]
        for name, since in zip(names, list(self.busy_since)):
            if since is not None and now - since > seconds:
                return name
        return None

    def start(self) -> "LivePipeline":
        self.threads = [threading.Thread(target=self._capture, name="capture", daemon=True)]
        self.threads += [threading.Thread(target=self._stage, args=(i,), name=s.name, daemon=True) for i, s in enumerate(self.stages)]
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        """Ask every thread to finish (Ctrl-C): capture stops reading, the rest drain and flush."""
        self.stop_event.set()
        self.source.stop()

    def join(self, timeout: Optional[float] = None, stats_every: Optional[float] = None,
             log: Callable[[str], None] = print) -> bool:
        """Wait for the end (True) or ``timeout``; with ``stats_every`` log the stats line that often."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = time.monotonic()
        while any(t.is_alive() for t in self.threads):
            for t in self.threads:
                t.join(0.1)
            now = time.monotonic()
            if stats_every and now - last >= stats_every:
                log(self.stats.line())
                last = now
            if deadline is not None and now > deadline:
                return False
        return True

    def run(self, stats_every: Optional[float] = None, log: Callable[[str], None] = print) -> None:
        """Start, wait for the end (Ctrl-C stops cleanly), re-raise the first error of any thread."""
        self.start()
        try:
            self.join(stats_every=stats_every, log=log)
        except KeyboardInterrupt:
            self.stop()
            self.join(timeout=5.0)
        if self.error is not None:
            raise self.error
