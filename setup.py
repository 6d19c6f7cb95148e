"""The one compiled part, pcapscan/cnative.c (docs/performance.md, "Compiled
helpers"): built where a C compiler and Python's headers are there, left out
(optional=True: a warning, not a failure) where not; pcapscan/speedups.py then
runs its pure Python/numpy twins, which give the same results."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("pcapscan.cnative", ["pcapscan/cnative.c"], optional=True,
                             extra_compile_args=["-O2"])])
