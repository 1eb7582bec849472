"""The package's one compiled part: the noise kernel (noisewalk/noise/_normal.c), a plain C
library loaded with ctypes. It is optional: without a C compiler the install goes on, and
noisewalk compiles the kernel on first use or computes the same values with torch."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "noisewalk.noise._normal",
            sources=["src/noisewalk/noise/_normal.c"],
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-math-errno", "-pthread"],
            extra_link_args=["-pthread"],
            optional=True,
        )
    ]
)
