# Ferry's version: the one place it is written. CMake reads it (the binary, /health, Studio
# through /health) and setuptools reads it (python/pyproject.toml); a plain .py file, so that
# every copy of this package (pip, share/ferry/python, the agent bundle of remote hosts) has it.
__version__ = "0.1.0"
