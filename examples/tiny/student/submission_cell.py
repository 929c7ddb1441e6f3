# Save the notebook first. This writes tiny_submission.zip next to it: upload that file.
tiny.make_submission()
