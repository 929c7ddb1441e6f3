"""The graded parts of HW2, written down once: grade, sandbox, make_student, annotate and the checks all read them.

Each part has a ``name`` (its column in grades.csv and, for an automatic part, its check file
``grading/checks/NAME.py``), its ``points``, its ``kind`` (``automatic``: a hidden check decides; ``written``: a
person scores it), what its check ``follows``, and a ``title``:

- an automatic part follows a class of ``hw2_models.py`` (checked as soon as the module is loaded) or a variable of
  the notebook (checked right after the cell that defines it); ``fills`` are the notebook variables whose
  assignments the student version blanks (the dataloaders' part blanks both loaders);
- a written part follows its question: a phrase of the question cell, how its answer is found in a submission.
"""

from collections import namedtuple

Part = namedtuple("Part", "name points kind follows title fills", defaults=((),))

AUTOMATIC, WRITTEN = "automatic", "written"
YOUR_CODE = "### YOUR CODE HERE ###"  # the assignment's blank, as the student version writes it
EMPTY_ANSWER = "*Your answer here.*"  # a written answer left as the student version hands it out
CLASSES = ("LeNet_5", "Encoder", "Decoder")  # what the module checks follow; every other automatic part follows a variable

PARTS = (
    Part("transform", 1, AUTOMATIC, "transform", "the transform: Resize(32), ToTensor, Normalize", ("transform",)),
    Part("dataloaders", 1, AUTOMATIC, "training_dataloader", "the training and validation dataloaders",
         ("training_dataloader", "validation_dataloader")),
    Part("lenet_layers", 3, AUTOMATIC, "LeNet_5", "LeNet-5's layers"),
    Part("lenet_instantiated", 1, AUTOMATIC, "model", "LeNet-5 instantiated", ("model",)),
    Part("hw1_comparison", 1, WRITTEN, "How does this compare to the confusion matrix you generated for your model in HW1?",
         "How does this compare to the confusion matrix you generated for your model in HW1?"),
    Part("encoder", 2, AUTOMATIC, "Encoder", "the Encoder's layers"),
    Part("decoder", 2, AUTOMATIC, "Decoder", "the Decoder's layers"),
    Part("ae_built", 1, AUTOMATIC, "ae_model", "the AutoEncoder built", ("ae_model",)),
    Part("vae_built", 1, AUTOMATIC, "vae_model", "the VAE built", ("vae_model",)),
    Part("vae_use_case", 2, WRITTEN, "What is one use case you can imagine in your own design work for a VAE?",
         "What is one use case you can imagine in your own design work for a VAE?"),
)
BY_NAME = {part.name: part for part in PARTS}


def student_table():
    """What the student version needs of this table (shipped as hw2_helpers/parts.json, read by the public checks):
    every part's name, points, kind, title, what it follows, the variables it fills, where its code goes; and the
    blanks' texts."""
    return {"parts": [{"name": p.name, "points": p.points, "kind": p.kind, "title": p.title, "follows": p.follows,
                       "fills": list(p.fills), "where": "hw2_models.py" if p.follows in CLASSES else "hw2.ipynb"}
                      for p in PARTS],
            "your_code": YOUR_CODE, "empty_answer": EMPTY_ANSWER}


def automatic():
    return [part for part in PARTS if part.kind == AUTOMATIC]


def written():
    return [part for part in PARTS if part.kind == WRITTEN]


def module_parts():
    """The automatic parts that follow a class of hw2_models.py, in the assignment's order."""
    return [part for part in automatic() if part.follows in CLASSES]


def cell_parts():
    """The automatic parts that follow a notebook variable, in the assignment's order."""
    return [part for part in automatic() if part.follows not in CLASSES]


def points_label(points):
    """As the assignment writes a part's points: ``(1 pt)``, ``(2 points)``."""
    return f"({points:g} pt)" if points == 1 else f"({points:g} points)"


def heading(part):
    """The part's title with its points, as the answer pages and make_student's messages show it."""
    return f"{part.title} {points_label(part.points)}"


AUTOMATIC_POINTS = sum(part.points for part in automatic())
WRITTEN_POINTS = sum(part.points for part in written())
