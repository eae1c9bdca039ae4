"""localmup: a spec compiler and simulator for width-scaled local learning.

    from localmup import load, check, generate
    ir = load("specs/bp_mlp_mup.lmu")
    report = check(ir)            # verdicts, exponents, diagnostics
    source = generate(ir)         # a standalone PyTorch trainer module
"""

from .compiler.check import check
from .compiler.codegen import generate
from .compiler.ir import compile_source, load_spec as load

__version__ = "0.1.0"

__all__ = ["load", "compile_source", "check", "generate", "__version__"]
