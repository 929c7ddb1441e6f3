"""What the sandboxed child and the grader's own process both read, written once here: the child may import nothing
of ``grading`` but this package (``grading.settings`` re-exports these)."""

FILE_LIMIT = 20 * 2**20  # bytes of one submitted file (the notebook, the module)
OUTPUT_LIMIT = 64 * 2**10  # characters of a submission's printing kept per cell (or piece of code), in the sandbox
