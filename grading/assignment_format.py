"""The assignment's own format: one ``hw2.ipynb`` whose cells define ``LeNet_5``, ``Encoder``, ``Decoder``,
``AutoEncoder`` and ``VariationalAutoEncoder``, with no ``hw2_models.py`` (what a course that handed out the
assignment as written receives).

It is graded as the kit's format is, by the same sandbox, checks and points. The sandboxed runner
(``grading/child/notebook.py``, ``load_assignment``) runs the cells that define the graded classes first, each on its
own and under the cell time limit, into a module that stands in for ``hw2_models.py`` (so the module checks apply
unchanged, and a cell that does not compile costs its own class and what is built from it, never another class);
the notebook's run then skips those cells and finds the classes already defined. Training never runs, and the
assignment's ``MNIST("data", download=True)`` finds the shipped files in the copy's ``data`` folder (offline).

Which format wins when a submission holds both ``hw2.ipynb`` and ``hw2_models.py``: the notebook decides
(``grading.notebook.detect``, in the parent). If its cells define a graded class and it never imports
``hw2_models``, running it top to bottom uses its own classes and never the file, so it is graded as the
assignment's notebook and the file is ignored (the row's status says so); otherwise it is the kit's format.
"""

from grading.notebook import ASSIGNMENT, CLASSES, KIT, decide, defined_classes, detect

__all__ = ["ASSIGNMENT", "CLASSES", "KIT", "decide", "defined_classes", "detect"]
