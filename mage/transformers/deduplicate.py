"""Step 3 — deduplicate: one clean bar per bar time, from its latest ingestion (fdelib.etl.deduplicate).

Every month the answer's bars fall in (an answer may overlap the month before), as run_month does.
"""

from fdelib import etl
from fdelib.mage import blocks

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer


@transformer
def deduplicate(loaded: dict, **kwargs) -> dict:
    with blocks.step(kwargs, loaded) as run:
        counts = {month: etl.deduplicate(run.conn, run.symbol, month, run.interval) for month in run.months()}
    return run.output(**counts[run.month])
