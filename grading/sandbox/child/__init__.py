"""What runs inside the sandbox: the runner that executes a submission and answers the parent's questions with data
only (``wire``). Nothing here knows a reference answer or a point; the parent (``grading.judge.session``) decides both."""
