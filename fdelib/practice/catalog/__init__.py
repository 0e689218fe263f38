"""The course's exercises, one module per notebook (``start_here.py`` for
``00_start_here.ipynb``, ``bank_model.py`` for ``02_bank_db/01_model.ipynb``...).

Each module makes a :class:`fdelib.practice.Catalog` for its notebook and declares the
notebook's exercises on it; ``fdelib.practice`` imports every module here on the first
check. See CONTRIBUTING.md ("Writing an exercise").
"""
