"""What grading writes: rows, records, answer pages, feedback, the summary and the Canvas import."""
