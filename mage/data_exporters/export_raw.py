"""Step 2 — store the raw bars, append-only, with their ingestion time (fdelib.etl.load_raw: COPY).

In the run's transaction: nothing is visible to others until the last block commits the run.
"""

from fdelib import etl
from fdelib.mage import blocks

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_raw(fetched: dict, **kwargs) -> dict:
    with blocks.step(kwargs, fetched) as run:
        rows = etl.load_raw(run.conn, run.payload, run.run_id)
    return run.output(raw_rows=rows)
