"""Reports: our runs beside the paper's published numbers, as Markdown tables and PNG figures.

`jaxlens report RUNS... --out DIR`. Modules, from the files up: `runs` (finding and
reading runs), `naming` (a run in the paper's words), `paper` (the published numbers), `studies`
(which table and slot a run fills), `tables` and `plots` (drawing them), `summary` (one line per
run), `document` (report.md).
"""
