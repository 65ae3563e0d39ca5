"""The tokenomy CLI with the gateway's metering build cut down to its floor, for the benchmark.

``python -m bench.gateway.floor gateway --config T --sink none`` serves as ``tokenomy gateway``
does, with one change: after the first exchange (built in full), each exchange becomes a
:class:`~tokenomy.schema.Call` made from that first call's values, with a Usage and a Cost of its
own. So every call is still made, queued through the loop's builder and the sink, added to the
metrics' counters and freed, as with metering on; but nothing is read from the answer, no prompt
is counted, no price computed, no clock read or id drawn. The CPU this gateway spends beyond
``--sink off`` is what metering costs before any of its work: the part no faster reading,
counting or pricing can take away (``bench_gateway``'s section 4 prints it beside the real one).

The cut is made where the proxy hands an exchange to the builder (``proxy.LoopBuilder`` is
replaced by :class:`_FloorBuilder`), not by replacing ``metering.build_call``: metering is compiled
(``make install``), and a compiled module calls its own functions directly, so a replaced module
attribute would never be called. The wrapper and its item add two small Python calls a request
to the floor (a few hundred instructions, well under a microsecond).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from tokenomy.cli.main import main as cli_main
from tokenomy.gateway import building, metering, proxy
from tokenomy.pricing import Pricer
from tokenomy.schema import Call, new_call, new_cost, new_usage

_full = metering.build_call
_NAMES = [f.name for f in dataclasses.fields(Call)]
_USAGE, _COST = _NAMES.index("usage"), _NAMES.index("cost")


class _Floor:
    """A stand-in for :func:`tokenomy.gateway.metering.build_call` (see the module docstring)."""

    def __init__(self) -> None:
        self.values: list[Any] | None = None
        self.usage: list[Any] = []
        self.cost: list[Any] | None = None

    def __call__(self, exchange: metering.Exchange, pricer: Pricer | None = None) -> Call:
        values = self.values
        if values is None:  # the first exchange: built in full, its values kept
            call = _full(exchange, pricer)
            self.values = [getattr(call, name) for name in _NAMES]
            self.usage = [getattr(call.usage, f.name) for f in dataclasses.fields(call.usage)]
            if call.cost is not None:
                self.cost = [getattr(call.cost, f.name) for f in dataclasses.fields(call.cost)]
            return call
        values = values.copy()
        values[_USAGE] = new_usage(*self.usage)
        if self.cost is not None:
            values[_COST] = new_cost(*self.cost)
        return new_call(*values)


_FLOOR = _Floor()


class _FloorItem:
    """What the builder builds in place of an exchange: the floor's call, counted as metering counts it."""

    __slots__ = ("exchange",)

    def __init__(self, exchange: metering.Exchange) -> None:
        self.exchange = exchange

    def build(self) -> Call:
        exchange = self.exchange
        call = _FLOOR(exchange, exchange.pricer)
        if exchange.on_built is not None:
            exchange.on_built(call)  # the metrics' counters, as Exchange.build does
        return call


class _FloorBuilder:
    """A :class:`~tokenomy.gateway.building.LoopBuilder` whose exchanges are built by the floor."""

    def __init__(self, sink: Any) -> None:
        self._builder = building.LoopBuilder(sink)

    def submit(self, item: Any) -> None:
        self._builder.submit(_FloorItem(item) if isinstance(item, metering.Exchange) else item)

    def drain(self) -> None:
        self._builder.drain()


def main(argv: list[str]) -> int:
    """Run the CLI with the floor in place of the metering build."""
    setattr(proxy, "LoopBuilder", _FloorBuilder)  # noqa: B010  (the name the proxy makes its builder from)
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
