# SPDX-License-Identifier: BSD-3-Clause
"""Bit-level helpers for numba kernels (private).

numba widens int32 arithmetic to int64, which stops LLVM from vectorising
float/int conversions; these intrinsics do the bit work in 32-bit LLVM IR.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_I32 = ir.IntType(32)


@intrinsic
def f32_bits(typingctx, x):
    """The IEEE-754 bit pattern of a float32 as int32 (a free bitcast)."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _I32)

    return sig, codegen
