"""Step 5 — export the daily data product: the etl.daily table (the run commits: raw, clean and daily
rows become visible at once, with the run's outcome in etl.runs), then CSV and Parquet
(fdelib.etl.export). Its output is the month's product.
"""

from fdelib import etl
from fdelib.mage import blocks

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def export_daily(aggregated: dict, **kwargs):
    with blocks.step(kwargs, aggregated) as run:
        counts = run.succeed()
    files = etl.export(run.symbol, run.month)
    return blocks.result(run, counts, files)
