"""Results people can act on: reports, charts, fairness signals and personnel records.

- ``facts``: a cycle's figures, aggregated in SQL (GROUP BY).
- ``gaps``: self-assessment and peer input against the supervisor's score, streamed.
- ``fairness``: the signals, each with its method (information, never a change).
- ``rows``, ``table``, ``csv_files``, ``spreadsheet``: one row per evaluation, CSV/XLSX.
- ``charts``, ``html``: the HTML report, its fragment for the admin dashboard.
- ``decisions``: the lists leaders act on; ``record``: a person's record.
- ``stamp``: the one reader of the score stamp's format.
"""
