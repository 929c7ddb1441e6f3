"""Import ``hw2_models`` while some of its blanks are still open, so that a student can run Part 1 before Part 2.

The toolkit's import finder (``casekit.source``) does it for any homework's module; here it is installed for
``hw2_models``: when the file does not compile it is loaded one top-level statement at a time, each class or function
that does not compile becoming a stand-in that stops, when used, with a message naming it, the file, the line and its
text. ``models_changed()`` tells when ``hw2_models.py`` was edited after this kernel imported it. Absolute imports
only: the names below are HW2's spellings of the toolkit's.
"""

from casekit import source
from casekit.source import (  # noqa: F401
    Failure, UnfinishedError, blank_lines, load_statement_by_statement, top_level_statements,
)

MODULE = "hw2_models"
FILE = MODULE + ".py"
YOUR_CODE = source.YOUR_CODE
CHANGED = source.changed_message(FILE)
_definition_name, _definition_text = source.definition_name, source.definition_text


def statement_failure(first, text, filename=FILE):
    """A ``Failure`` if the top-level definition ``text`` of hw2_models.py does not compile, else None."""
    return source.statement_failure(first, text, filename)


def import_warning(failures):
    """The warning of an import of hw2_models.py that needed stand-ins."""
    return source.import_warning(failures, FILE)


def install():
    """Let ``import hw2_models`` succeed while its blanks are open (idempotent)."""
    source.install(MODULE)


def models_changed(path=None):
    """``CHANGED`` if the hw2_models.py this kernel imported differs now on disk from the source it imported, else
    None (``path``: only if the kernel imported that file)."""
    return source.module_changed(MODULE, path)
