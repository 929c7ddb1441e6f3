"""The instructors' kit: the student version (``python -m grading.student``) and the autograder
(``python -m grading.grade``), both made from an assignment folder (``grading/assignments/NAME/``, read by
``grading.assignment``) and the solved files it names.

Nothing of this package is copied into a student version: the cases that decide points and the reference stay in
the grader's process; students get the public cases and the case toolkit (``casekit``) only.
"""
