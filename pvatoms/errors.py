"""Errors raised for bad input. Every message names the bad value and what would be valid."""


class InputError(ValueError):
    """Input that pvatoms cannot turn into a physical structure or calculation."""


def check_choice(name: str, value, choices) -> None:
    """Raise :class:`InputError` unless ``value`` is one of ``choices``.

    >>> check_choice("phase", "pnma", ["pnma", "cubic"])
    """
    if value not in choices:
        valid = ", ".join(str(c) for c in choices)
        raise InputError(f"unknown {name} {value!r}; valid choices: {valid}")


def check_positive_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as int if ``minimum <= value <= maximum``, else raise :class:`InputError`."""
    try:
        ivalue = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an integer, got {value!r}") from None
    if ivalue != value or ivalue < minimum or (maximum is not None and ivalue > maximum):
        rng = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise InputError(f"{name} must be an integer {rng}, got {value!r}")
    return ivalue
