"""threadloom: threaded work in Python made safe, fast and visible.

Everything a user may import is re-exported here; modules and names starting with
an underscore are private.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
