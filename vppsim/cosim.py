"""SimPy kernel: messages between the VPO and the VPPs with latency, loss and gate closure.

Simulated time is in seconds; step ``t`` of the Mesa model starts at ``t * step_h * 3600``.
A day-ahead round at the start of a day:

1. the VPO sends its internal prices to every VPP (one message per link);
2. a VPP that receives them computes its schedule and sends it back over the same link;
3. the VPO clears at gate closure (``gate_closure_s`` after sending) with what arrived.
   A VPP whose schedule was lost or arrived late is committed to its fallback schedule.

Each message is lost with its link's ``loss_probability`` (drawn from the model's generator)
and otherwise delivered after the link's ``latency_s``. With zero latency and no loss,
every schedule arrives at the sending instant and the round changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from vppsim.scenario.schema import CommunicationSpec, LinkSpec


@dataclass(frozen=True)
class Message:
    """A message on a link; ``round_id`` ties a reply to its round."""

    sender: str
    receiver: str
    kind: str
    round_id: int
    payload: Any
    sent_s: float


@dataclass
class MessageLogEntry:
    """What happened to one message."""

    sender: str
    receiver: str
    kind: str
    round_id: int
    sent_s: float
    delivered_s: float | None
    lost: bool
    late: bool = False


@dataclass
class RoundOutcome:
    """The VPO's view at gate closure: schedules that arrived in time, by VPP name."""

    received: dict[str, Any]
    missing: list[str]
    gate_closure_s: float
    log: list[MessageLogEntry] = field(default_factory=list)


class MessageBus:
    """Delivers messages over per-link SimPy delays with random loss."""

    def __init__(
        self, env: simpy.Environment, spec: CommunicationSpec, rng: np.random.Generator
    ) -> None:
        self.env = env
        self.spec = spec
        self.rng = rng
        self.inboxes: dict[str, simpy.Store] = {}
        self.log: list[MessageLogEntry] = []

    def link(self, vpp_name: str) -> LinkSpec:
        """The link between the VPO and ``vpp_name``."""
        return self.spec.links.get(vpp_name, self.spec.default_link)

    def inbox(self, name: str) -> simpy.Store:
        """The inbox of agent ``name``."""
        if name not in self.inboxes:
            self.inboxes[name] = simpy.Store(self.env)
        return self.inboxes[name]

    def send(self, msg: Message, link: LinkSpec) -> MessageLogEntry:
        """Send ``msg``; it is lost or delivered after the link latency."""
        lost = bool(link.loss_probability > 0.0 and self.rng.random() < link.loss_probability)
        entry = MessageLogEntry(msg.sender, msg.receiver, msg.kind, msg.round_id, msg.sent_s,
                                None, lost)
        self.log.append(entry)
        if not lost:
            self.env.process(self._deliver(msg, link.latency_s, entry))
        return entry

    def _deliver(self, msg: Message, latency_s: float, entry: MessageLogEntry):  # noqa: ANN202
        yield self.env.timeout(latency_s)
        entry.delivered_s = self.env.now
        yield self.inbox(msg.receiver).put((msg, entry))


def day_ahead_round(
    bus: MessageBus,
    round_id: int,
    vpo_name: str,
    vpp_names: list[str],
    prices: Any,
    respond: Callable[[str, Any], Any],
) -> RoundOutcome:
    """Run one price/schedule round in SimPy and clear at gate closure.

    ``respond(vpp_name, prices)`` is the VPP's best response (its schedule); it is called
    when, and only if, the price message reaches the VPP.
    """
    env = bus.env
    start = env.now
    gate = start + bus.spec.gate_closure_s
    # a schedule arriving at the gate instant is in time, also when start + latency + latency
    # rounds a few ulps above start + gate_closure_s
    gate_tol = 1e-9 + 8 * math.ulp(gate)
    first_log = len(bus.log)

    def vpp_process(name: str):  # noqa: ANN202
        inbox = bus.inbox(name)
        while True:
            req = inbox.get()
            try:
                msg, _ = yield req
            except simpy.Interrupt:  # gate closed before the prices arrived
                req.cancel()
                return
            if msg.kind == "prices" and msg.round_id == round_id:
                break
        schedule = respond(name, msg.payload)
        bus.send(Message(name, vpo_name, "schedule", round_id, schedule, env.now), bus.link(name))

    received: dict[str, Any] = {}

    def vpo_process():  # noqa: ANN202
        inbox = bus.inbox(vpo_name)
        while True:
            req = inbox.get()
            try:
                msg, entry = yield req
            except simpy.Interrupt:  # gate closure
                req.cancel()
                return
            if msg.kind != "schedule" or msg.round_id != round_id:
                entry.late = True  # a reply from an earlier round, delivered after its gate
                continue
            if env.now <= gate + gate_tol:
                received[msg.sender] = msg.payload
            else:
                entry.late = True

    processes = []
    for name in vpp_names:
        bus.send(Message(vpo_name, name, "prices", round_id, prices, start), bus.link(name))
        processes.append(env.process(vpp_process(name)))
    processes.append(env.process(vpo_process()))
    # a schedule arriving exactly at the gate instant is still in time
    env.run(until=gate + 1e-6)
    for proc in processes:
        if proc.is_alive:
            proc.interrupt()
    env.run(until=gate + 2e-6)  # let the interrupted processes finish
    missing = [n for n in vpp_names if n not in received]
    for entry in bus.log[first_log:]:
        if entry.kind == "schedule" and entry.delivered_s is None and not entry.lost:
            entry.late = True  # still in flight at gate closure
    return RoundOutcome(received=received, missing=missing, gate_closure_s=gate,
                        log=bus.log[first_log:])
