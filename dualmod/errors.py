# SPDX-License-Identifier: BSD-3-Clause
"""Exception classes of dualmod.

Every error the library raises on bad input is a :class:`DualmodError`, so a
caller (and the CLI) can tell "your input is wrong" from a bug. Each message
names the offending file or field and says what is allowed.
"""

from __future__ import annotations

__all__ = ["DualmodError", "ProfileError", "InputError", "ImageReadError", "ImageWriteError", "DualmodWarning",
           "ImageSanitizedWarning"]


class DualmodError(Exception):
    """Base class of every error dualmod raises on purpose."""


class ProfileError(DualmodError, ValueError):
    """A panel profile is missing, unreadable or invalid.

    Parameters
    ----------
    message : str
        What is wrong and what is allowed.
    source : str, optional
        The profile file (or built-in name) the error comes from.
    field : str, optional
        Dotted name of the offending field, e.g. ``"psf.sigma"``.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        parts = []
        if source:
            parts.append(str(source))
        if field:
            parts.append(field)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class InputError(DualmodError, ValueError):
    """An array argument has the wrong shape, dtype or values (NaN, Inf, out of range)."""


class ImageReadError(DualmodError, OSError):
    """An image file is missing, unreadable, corrupt, or not an image dualmod can use.

    Attributes
    ----------
    path : str
        The file.
    """

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"{path}: {message}")


class ImageWriteError(DualmodError, OSError):
    """An image could not be written (bad format, folder, or encoder failure); nothing was left behind."""


class DualmodWarning(UserWarning):
    """Base class of dualmod's warnings."""


class ImageSanitizedWarning(DualmodWarning):
    """Invalid pixels (NaN, Inf, negative) were replaced while reading an image."""
