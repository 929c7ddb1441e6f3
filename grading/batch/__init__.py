"""A run's batch, beside the commands: each submission graded by a worker process of its own (``workers``), the
per-submission pipeline and the run over a list of entries (``pipeline``), the progress line and what a run keeps
(``progress``)."""
