"""The ``autodyn`` command line (``app.py``): each command's module parses options, calls the library."""
