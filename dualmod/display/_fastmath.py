# SPDX-License-Identifier: BSD-3-Clause
"""Bit-level helpers and branch-free log2/exp2 for numba kernels (private).

numba widens int32 arithmetic to int64, which stops LLVM from vectorising
float/int conversions; these intrinsics do the bit work in 32-bit LLVM IR.
``log2f``/``exp2f`` are polynomial, branch-free and vectorise (numba's ``**``
calls scalar libm: ~10x slower here); their accuracy is measured, not
assumed, where they are used (see :class:`dualmod.display.lcd.LcdModel`).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ..errors import InputError

_I32 = ir.IntType(32)


@intrinsic
def f32_bits(typingctx, x):
    """The IEEE-754 bit pattern of a float32 as int32 (a free bitcast)."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _I32)

    return sig, codegen


_F32 = ir.FloatType()


@intrinsic
def bits_f32(typingctx, b):
    """The float32 with IEEE-754 bit pattern ``b`` (int32; a free bitcast, the inverse of f32_bits)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _F32)

    return sig, codegen


@intrinsic
def _split_log(typingctx, x):
    """(e, m) with x = 2**e · m, m ∈ [√½, √2), e integral (as float32); x > 0 normal.

    Subtracting the bit pattern of √½ moves the mantissa boundary to √½: the
    exponent field of the difference is e and its mantissa bits plus √½'s are
    m (four integer ops, no compare).
    """
    sig = types.UniTuple(types.float32, 2)(types.float32)

    def codegen(context, builder, signature, args):
        half_sqrt2 = ir.Constant(_I32, 0x3F3504F3)
        b = builder.sub(builder.bitcast(args[0], _I32), half_sqrt2)
        e = builder.sitofp(builder.ashr(b, ir.Constant(_I32, 23)), _F32)
        m = builder.add(builder.and_(b, ir.Constant(_I32, 0x7FFFFF)), half_sqrt2)
        return context.make_tuple(builder, signature.return_type, (e, builder.bitcast(m, _F32)))

    return sig, codegen


@intrinsic
def _scale_pow2(typingctx, p, fi):
    """p · 2**fi for an integral float32 fi in [−126, 127] (exponent-field addition)."""
    sig = types.float32(types.float32, types.float32)

    def codegen(context, builder, signature, args):
        i = builder.fptosi(args[1], _I32)
        pb = builder.bitcast(args[0], _I32)
        return builder.bitcast(builder.add(pb, builder.shl(i, ir.Constant(_I32, 23))), _F32)

    return sig, codegen


@nb.njit(inline="always", error_model="numpy")
def log2f(x):
    """log2 of a positive normal float32, |error| < 2e-7 (atanh series to z**7 on [√½, √2), |z| ≤ 0.172)."""
    e, m = _split_log(x)
    z = (m - np.float32(1.0)) / (m + np.float32(1.0))
    z2 = z * z
    p = np.float32(2.0 / 7.0)
    p = p * z2 + np.float32(2.0 / 5.0)
    p = p * z2 + np.float32(2.0 / 3.0)
    p = p * z2 + np.float32(2.0)
    return e + z * p * np.float32(1.4426950408889634)


# Near-minimax degree-5 fit of 2**f on [−½, ½] (relative error 1.7e-7), by numpy's Chebyshev fit.
_E0, _E1, _E2 = np.float32(1.000000049164067), np.float32(0.6931470026958125), np.float32(0.24022224280127447)
_E3, _E4, _E5 = np.float32(0.05550712180683303), np.float32(0.00967017600208443), np.float32(0.0013260921424693847)


_ONE = np.float32(1.0)


@nb.njit(inline="always", error_model="numpy")
def _exp2_normal(y, scale=_ONE):
    """scale·2**y for −126 ≤ y ≤ 127, relative error < 3e-7 (no clamp).

    The scale multiplies the polynomial's coefficients (loop-invariant: hoisted), not each result.
    """
    fi = np.rint(y)
    f = y - fi
    p = _E5 * scale
    p = p * f + _E4 * scale
    p = p * f + _E3 * scale
    p = p * f + _E2 * scale
    p = p * f + _E1 * scale
    p = p * f + _E0 * scale
    return _scale_pow2(p, fi)


@nb.njit(inline="always", error_model="numpy")
def exp2f(y):
    """2**y for y ≤ 127 (clamped below at 2**−126), relative error < 3e-7."""
    return _exp2_normal(max(y, np.float32(-126.0)))


def pow_coefs(power: float) -> np.ndarray:
    """(c1, c3, c5, c7, p) for :func:`powf` with exponent p = ``power`` (the log2 series scaled by p)."""
    k = power / np.log(2.0)
    return np.array([2.0 * k, 2.0 / 3.0 * k, 2.0 / 5.0 * k, 2.0 / 7.0 * k, power])


@nb.njit(inline="always", error_model="numpy")
def powf(x, c1, c3, c5, c7, p, scale=_ONE):
    """scale·x**p for a positive normal float32 x with p·log2(x) in [−126, 127], branch-free.

    c1 … c7 from :func:`pow_coefs` (float32): log2 by the atanh series of
    :func:`log2f` with p folded into its coefficients, then
    :func:`_exp2_normal` (one multiply fewer than ``exp2f(p * log2f(x))``
    and no clamp). Relative error ~1e-6, measured where used.
    """
    e, m = _split_log(x)
    z = (m - np.float32(1.0)) / (m + np.float32(1.0))
    z2 = z * z
    s = c7
    s = s * z2 + c5
    s = s * z2 + c3
    s = s * z2 + c1
    return _exp2_normal(z * s + e * p, scale)


@nb.njit(inline="always", error_model="numpy")
def invalid_bits(v):
    """Non-zero (int32) where a float32 nits value is NaN, ±Inf or negative (−0.0 is valid).

    v − v is +0.0 unless v is NaN/Inf; min(0, v) is +0.0 unless v < 0. Four vector ops with the
    caller's OR (``or_i32``), against six for a compare-to-mask test. Never compile it with the
    ``nnan`` fastmath flag, which lets LLVM fold v − v to 0.
    """
    return or_i32(f32_bits(v - v), f32_bits(min(np.float32(0.0), v)))


@nb.njit(parallel=True, cache=True, error_model="numpy")
def _invalid_rows(a, flags):
    for i in nb.prange(a.shape[0]):
        row = a[i]
        bad = np.int32(0)
        for j in range(row.shape[0]):
            bad = or_i32(bad, invalid_bits(row[j]))
        flags[i] = bad


def invalid_values_error(image: np.ndarray, name: str = "target") -> InputError:
    """The :class:`~dualmod.errors.InputError` for an image in nits holding NaN, infinite or negative values,
    with their counts: the kernels' folded checks (:func:`invalid_bits`) only say that one is there."""
    a = np.asarray(image)
    finite = np.isfinite(a)
    n_bad = int(a.size - np.count_nonzero(finite))
    n_neg = int(np.count_nonzero(finite & (a < 0)))
    return InputError(f"{name} has {n_bad} NaN/Inf values and {n_neg} negative values "
                      "(nits must be finite and >= 0)")


def has_invalid_values(image: np.ndarray) -> bool:
    """Whether a float32 image holds a NaN, ±Inf or negative value (−0.0 is valid), in one vectorised pass.

    The same test as the LCD kernels' folded check (:func:`invalid_bits`), for callers with no kernel
    pass to fold it into; no temporary arrays.
    """
    a = np.ascontiguousarray(image, dtype=np.float32)
    a = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)
    flags = np.empty(a.shape[0], np.int32)
    _invalid_rows(a, flags)
    return bool(flags.any())


@intrinsic
def mul_rounded(typingctx, a, b):
    """a·b for float32, rounded on its own: never fused into an FMA under ``fastmath={"contract"}``.

    numba adds its fastmath flags only to instructions that carry none; this
    multiply carries ``arcp`` (meaningless for a product), so it keeps the
    plain IEEE rounding the numpy reference computes.
    """
    sig = types.float32(types.float32, types.float32)

    def codegen(context, builder, signature, args):
        return builder.fmul(args[0], args[1], flags=("arcp",))

    return sig, codegen


@intrinsic
def or_i32(typingctx, a, b):
    """Bitwise or of two int32 without numba's widening to int64 (keeps reductions vectorised)."""
    sig = types.int32(types.int32, types.int32)

    def codegen(context, builder, signature, args):
        return builder.or_(args[0], args[1])

    return sig, codegen

