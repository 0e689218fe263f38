"""What the Mage lesson shows: the pipeline as Mage stores it, and the rows a run leaves.

The block graph is read from Mage's own ``metadata.yaml`` (the file Mage's UI edits), not drawn
by hand; :func:`rows` and :func:`compare` put two runs of the ETL side by side — the raw, clean
and daily rows without what differs by design between two runs (the ingestion time and run id).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pandas as pd
import sqlalchemy as sa
import yaml

from .. import db, errors
from ..config import Settings, get_settings
from . import PIPELINE, PROJECT

# the colours Mage's UI gives each kind of block
COLORS = {"data_loader": "#9ec5fe", "transformer": "#cdb4f6", "data_exporter": "#ffe08a"}
FOLDERS = {"data_loader": "data_loaders", "transformer": "transformers", "data_exporter": "data_exporters"}


def project_dir(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).project_root / PROJECT


def metadata(pipeline: str = PIPELINE, settings: Settings | None = None) -> dict:
    """The pipeline's ``metadata.yaml``, as Mage reads it."""
    path = project_dir(settings) / "pipelines" / pipeline / "metadata.yaml"
    return yaml.safe_load(path.read_text())


def blocks(pipeline: str = PIPELINE, settings: Settings | None = None) -> pd.DataFrame:
    """One row per block: its name, kind, file and the blocks it reads from."""
    rows = [
        {
            "block": b["uuid"],
            "type": b["type"],
            "file": f"{FOLDERS.get(b['type'], b['type'])}/{b['uuid']}.py",
            "upstream": ", ".join(b.get("upstream_blocks") or []) or "—",
        }
        for b in metadata(pipeline, settings)["blocks"]
    ]
    return pd.DataFrame(rows)


def graph(pipeline: str = PIPELINE, settings: Settings | None = None):
    """The block graph (networkx): an edge from each upstream block, the block's kind on its node."""
    import networkx as nx

    dag = nx.DiGraph()
    for block in metadata(pipeline, settings)["blocks"]:
        dag.add_node(block["uuid"], type=block["type"])
        dag.add_edges_from((up, block["uuid"]) for up in block.get("upstream_blocks") or [])
    return dag


def draw(pipeline: str = PIPELINE, settings: Settings | None = None) -> None:
    """The block graph, coloured by kind as Mage's UI colours it."""
    from ..viz import draw_dag

    dag = graph(pipeline, settings)
    draw_dag(
        dag,
        title=f"{pipeline}: Mage blocks from pipelines/{pipeline}/metadata.yaml",
        colors={n: COLORS.get(t, "#cfe2f3") for n, t in dag.nodes(data="type")},
        figsize=(10, 2.4),
    )


def block_source(block: str, pipeline: str = PIPELINE, settings: Settings | None = None) -> str:
    """A block's code as Mage runs it (without its module docstring)."""
    kind = next(b["type"] for b in metadata(pipeline, settings)["blocks"] if b["uuid"] == block)
    text = (project_dir(settings) / FOLDERS[kind] / f"{block}.py").read_text()
    return text.split('"""', 2)[2].strip() if text.startswith('"""') else text.strip()


RAW = """SELECT symbol, interval, bar_time, open, high, low, close, volume FROM etl.raw_intraday
         WHERE symbol = :s AND interval = :i ORDER BY bar_time, open, high, low, close, volume"""
CLEAN = """SELECT symbol, interval, bar_time, open, high, low, close, volume FROM etl.intraday
           WHERE symbol = :s AND interval = :i ORDER BY bar_time"""
DAILY = """SELECT symbol, session, open, high, low, close, volume, bars, interval FROM etl.daily
           WHERE symbol = :s ORDER BY session"""


def rows(symbol: str, interval: str = "5min", engine: sa.Engine | None = None) -> dict[str, pd.DataFrame]:
    """The raw, clean and daily rows of ``symbol`` — every month —, without the ingestion time and run id
    (two runs differ in those by design)."""
    params = {"s": symbol, "i": interval}
    return {
        name: db.read_frame(sql, params, engine=engine)
        for name, sql in (("raw", RAW), ("clean", CLEAN), ("daily", DAILY))
    }


def compare(
    left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame], names: tuple[str, str] = ("fdelib.etl", "Mage")
) -> pd.DataFrame:
    """Per table: the rows of each run, and whether they are identical (same rows, same order, same values)."""
    return pd.DataFrame(
        [
            {
                "table": table,
                f"{names[0]} rows": len(left[table]),
                f"{names[1]} rows": len(right[table]),
                "identical": left[table].equals(right[table]),
            }
            for table in left
        ]
    ).set_index("table")


def same(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> bool:
    """True when two :func:`rows` snapshots are identical, table by table."""
    return left.keys() == right.keys() and all(left[name].equals(right[name]) for name in left)


def attempt(run, *args, **kwargs) -> Exception | None:
    """Call ``run`` (e.g. :func:`fdelib.mage.headless.run`); the failed Mage run it raised (the lesson
    shows it), or None (:func:`fdelib.errors.attempt`)."""
    from .headless import MageRunFailed

    return errors.attempt(run, *args, refused=MageRunFailed, **kwargs)


class Exported(TypedDict):
    """What an export wrote, read back."""

    csv: bytes
    parquet: pd.DataFrame


def exported(files: dict) -> Exported:
    """What an export wrote, read back: the CSV's bytes, the Parquet file's table."""
    return {"csv": Path(files["csv"]).read_bytes(), "parquet": pd.read_parquet(files["parquet"])}


def compare_files(left: Exported, right: Exported) -> pd.DataFrame:
    """The exports of two runs: the CSV byte for byte; the Parquet file as a table — its bytes name the
    library versions that wrote it (Mage's environment pins pandas 2 and pyarrow 25; the course has newer)."""
    return pd.DataFrame(
        [
            {"file": "csv", "compared": "bytes", "identical": left["csv"] == right["csv"]},
            {"file": "parquet", "compared": "table", "identical": left["parquet"].equals(right["parquet"])},
        ]
    ).set_index("file")


def stored_outputs(pipeline: str = PIPELINE, settings: Settings | None = None) -> pd.DataFrame:
    """What Mage's variable store holds of each block's last output (``$MAGE_DATA_DIR/<project>/pipelines/
    <pipeline>/.variables/<block>/output_0/``): a dict as JSON, a DataFrame as Parquet."""
    from .process import mage_data_dir

    base = mage_data_dir(settings) / PROJECT / "pipelines" / pipeline / ".variables"
    rows = []
    for block in metadata(pipeline, settings)["blocks"]:
        folder = base / block["uuid"] / "output_0"
        if (folder / "data.json").exists():
            stored, shown = "data.json", (folder / "data.json").read_text()
        elif (folder / "data.parquet").exists():
            table = pd.read_parquet(folder / "data.parquet")
            stored, shown = "data.parquet", f"a table: {len(table)} rows × {table.shape[1]} columns"
        else:
            stored, shown = "—", "nothing stored"
        rows.append({"block": block["uuid"], "stored as": stored, "output": shown})
    return pd.DataFrame(rows).set_index("block")
