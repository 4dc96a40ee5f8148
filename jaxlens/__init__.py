"""jaxlens: MicroLens video recommendation in JAX/Flax NNX.

Comments cite the MicroLens paper (arXiv 2309.15379) by section or table, and its reference code
by the file's path in https://github.com/westlake-repl/MicroLens (e.g.
`Code/VideoRec/SASRec/main.py`); jaxlens's own choices are documented under docs/.
"""

__version__ = '0.3.0'
