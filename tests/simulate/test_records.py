"""Library users get the same records as Call and Charge objects."""

from __future__ import annotations

import io
import json

from tokenomy import native
from tokenomy.schema import Call, Charge
from tokenomy.simulate import SimulationConfig, records, run


def test_records_are_the_written_file() -> None:
    config = SimulationConfig(calls=1200, days=2, seed=6)
    out = io.BytesIO()
    run(config, out)
    written = [json.loads(line) for line in out.getvalue().splitlines()]
    built = list(records(config))
    assert [type(r) for r in built] == [Charge if native.is_charge(o) else Call for o in written]
    for record, obj in zip(built, written, strict=True):
        rendered = (
            native.call_to_native(record) if isinstance(record, Call) else native.charge_to_native(record)
        )
        assert rendered == obj
