"""User-facing errors.

Every invalid input (CLI flag, game parameter, policy, dataset, file) raises
:class:`MFGError` with a message that says what is wrong and how to fix it. The
CLI prints that one line and exits non-zero; it never shows a traceback for it.
"""

from __future__ import annotations


class MFGError(ValueError):
    """An invalid input to mfgtools, with a message written for the user."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`MFGError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise MFGError(message)


def as_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int (strings accepted), within ``[minimum, maximum]``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
        if number is None:
            raise ValueError
    except (TypeError, ValueError):
        raise MFGError(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise MFGError(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise MFGError(f"{name} must be at most {maximum}, got {number}")
    return number


def as_float(
    value,
    name: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float (strings accepted) within the given bounds."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise MFGError(f"{name} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise MFGError(f"{name} must be finite, got {value!r}")
    if low is not None and (number < low or (low_open and number == low)):
        raise MFGError(f"{name} must be {'>' if low_open else '>='} {low}, got {number}")
    if high is not None and (number > high or (high_open and number == high)):
        raise MFGError(f"{name} must be {'<' if high_open else '<='} {high}, got {number}")
    return number


def as_bool(value, name: str) -> bool:
    """``value`` as a bool; accepts true/false/yes/no/1/0 strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int,)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "0", "off"):
        return False
    raise MFGError(f"{name} must be true or false, got {value!r}")


def as_choice(value, name: str, choices) -> str:
    """``value`` as one of ``choices`` (strings)."""
    if value not in choices:
        raise MFGError(f"unknown {name} {value!r}: choose one of {', '.join(map(str, choices))}")
    return value


# Upper bounds of integers that end up in JAX: beyond them a run would crash deep
# inside (sometimes late) or, for seeds, silently repeat another seed's draws
# (jax.random.PRNGKey keeps the low 32 bits of a seed unless x64 is enabled).
MAX_SEED = 2**32 - 1
MAX_HORIZON = 2**31 - 1


def as_seed(value, name: str = "seed") -> int:
    """A random seed: an integer in ``[0, 2^32 - 1]`` (larger seeds would repeat smaller ones' draws)."""
    return as_int(value, name, 0, MAX_SEED)


def as_horizon(value, name: str = "horizon") -> int:
    """A number of time steps: an integer in ``[1, 2^31 - 1]`` (JAX indexes time in 32 bits)."""
    return as_int(value, name, 1, MAX_HORIZON)


def note(message: str) -> None:
    """Print one line ``mfgtools: note: <message>`` on stderr: something was accepted with
    a change or a caveat the user should know of (edges merged, a long run ahead)."""
    import sys

    print(f"mfgtools: note: {' '.join(str(message).split())}", file=sys.stderr)
