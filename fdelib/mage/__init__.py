"""Project 2 on Mage: the market-data ETL as a Mage project, beside the fdelib version.

The repository's ``mage/`` folder is a Mage project whose pipeline ``market_data_etl`` runs the
five steps of :mod:`fdelib.etl` as Mage blocks — a data loader (fetch), an exporter of the raw
bars, two transformers (deduplicate, aggregate) and an exporter of the daily product — giving the
same rows as :func:`fdelib.etl.run_month`. The blocks only call fdelib.etl's public functions.

* :mod:`.env` — Mage's own environment (mage-ai pins versions the course's JupyterLab cannot
  share), created on demand from the project's files;
* :mod:`.process` — what a Mage process is told (the course database, the Alpha Vantage stand-in,
  where Mage keeps its state), through environment variables;
* :mod:`.headless` — a pipeline run through ``mage run``;
* :mod:`.server` — Mage's UI in the background (``fde mage``), stopped by ``fde down``;
* :mod:`.views` — what a lesson shows: the block graph from Mage's ``metadata.yaml``, the rows a
  run leaves;
* :mod:`.blocks` — what the blocks call, inside Mage's process.

Nothing is imported here: :mod:`.blocks` runs in Mage's environment, which has fdelib.etl's
dependencies but not the course's.
"""

PROJECT = "mage"  # the Mage project's folder in the repository
PIPELINE = "market_data_etl"  # its pipeline (mage/pipelines/market_data_etl/)
