"""fdelib: the library behind the fde-workbench notebooks.

One module per concept the course teaches: ``config`` (settings), ``stack`` (the embedded
PostgreSQL), ``db`` (engines, SQL files, COPY loads, typed reads), ``runner`` (papermill
batch runs and their report), ``cli`` (the ``fde`` command).
"""

__version__ = "0.1.0"
