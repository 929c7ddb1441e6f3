"""The instructor's kit for HW2: the student version (``python -m grading.student``) and the autograder
(``python -m grading.grade``), both generated from the solved ``hw2.ipynb`` and ``hw2_models.py``.

Nothing in this package is copied into the student version: the checks that decide points (``grading/checks/``)
stay hidden.
"""
