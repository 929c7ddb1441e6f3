# Save the notebook first (Ctrl-S / Cmd-S). This writes digits_submission.zip next to it: upload that file.
digits.make_submission()
