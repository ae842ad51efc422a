"""A backend module that fails while it is imported, as a half-written one does."""

raise RuntimeError("this backend module is broken")
