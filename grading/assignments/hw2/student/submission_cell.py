# Save the notebook first (Ctrl-S / Cmd-S). This writes hw2_submission.zip next to it: upload that file.
hw2.make_submission()
