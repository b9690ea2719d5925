"""Grid maps: ``#`` is a wall, a space or ``.`` a free cell; nothing else is allowed.

A map is given by name (``four_rooms``, ``labyrinth``, ``maze``), as an empty
grid (``empty:20`` or ``empty:30x40``), as a multi-line string, or as the path
of a text file holding such a picture.
"""

from __future__ import annotations

import os
import re

import numpy as np

from mfgtools.errors import MFGError

FOUR_ROOMS = """\
#############
#     #     #
#     #     #
#           #
#     #     #
#     #     #
### ##### ###
#     #     #
#     #     #
#           #
#     #     #
#     #     #
#############"""

LABYRINTH = """\
######################
#      #     #     # #
#      #     #     # #
######    #  # ##  # #
#         #  # #   # #
#         #  # ### # #
#  ########  #   #   #
#    # # #  ##   #   #
#    # # #     # # ###
#    # # #     # # # #
#  ### # ####### # # #
#  #         #   # # #
#  # ## ###  #   # # #
## # #    #  ##### # #
## # # #  #      # # #
#    # ####        # #
# ####  # ########   #
#       #  #   # ### #
#  #  # #  # # #   # #
# ##### #    # #     #
#            #       #
######################"""

# OpenSpiel's maze: the labyrinth with a different row 10.
MAZE = "\n".join("###### # ####### # # #" if i == 10 else row for i, row in enumerate(LABYRINTH.splitlines()))

NAMED_MAPS = {"four_rooms": FOUR_ROOMS, "labyrinth": LABYRINTH, "maze": MAZE}

_EMPTY = re.compile(r"^empty:(\d+)(?:x(\d+))?$")
WALL = "#"
FREE = " ."  # characters of free cells
MAX_MAP_BYTES = 64 * 2**20


def parse_picture(picture: str, source: str = "map") -> np.ndarray:
    """``(H, W)`` bool free-cell mask of a ``#``-picture; rows must be equally long."""
    rows = [row for row in picture.splitlines()]
    while rows and rows[-1] == "":  # a trailing newline; rows of spaces are free cells
        rows.pop()
    while rows and rows[0] == "":
        rows.pop(0)
    if not rows:
        raise MFGError(f"{source} is empty: give rows of '#' (wall) and other characters (free)")
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        bad = next(i for i, row in enumerate(rows) if len(row) != len(rows[0]))
        raise MFGError(
            f"{source} is not rectangular: row 0 has {len(rows[0])} characters but row {bad} has "
            f"{len(rows[bad])}; pad rows with '#' or spaces to one width"
        )
    for number, row in enumerate(rows):
        stray = next((col for col, ch in enumerate(row) if ch not in WALL + FREE), None)
        if stray is not None:
            raise MFGError(
                f"{source} row {number} column {stray} holds {row[stray]!r}: a map holds only '#' (wall) and "
                "spaces or '.' (free cells); replace the other characters"
            )
    free = np.array([[ch != WALL for ch in row] for row in rows], dtype=bool)
    if not free.any():
        raise MFGError(f"{source} has no free cell: every character is '#'")
    return free


def load_map(spec, check_size=None) -> tuple[np.ndarray, str]:
    """Resolve a map spec to ``(free[H, W], label)``.

    ``spec`` is a name in :data:`NAMED_MAPS`, ``empty:N`` / ``empty:HxW``, a
    picture string (it contains a newline or a ``#``), a path to a text file, or
    an ``(H, W)`` boolean array (``True`` = free). ``check_size(height, width)``,
    if given, is called before an empty grid is allocated (and after any other
    map is read): a game builder's resource check
    (:func:`mfgtools.resources.check_game_size`).
    """
    free, label = _load_map(spec, check_size)
    if check_size is not None and not _EMPTY.match(label):
        check_size(*free.shape)
    return free, label


def _load_map(spec, check_size) -> tuple[np.ndarray, str]:
    if isinstance(spec, np.ndarray):
        free = np.asarray(spec, dtype=bool)
        if free.ndim != 2 or not free.any():
            raise MFGError("a map array must be 2-D boolean (True = free) with a free cell")
        return free, "array"
    if not isinstance(spec, str):
        raise MFGError(f"map must be a name, 'empty:HxW', a picture or a file path, not {type(spec).__name__}")
    if spec in NAMED_MAPS:
        return parse_picture(NAMED_MAPS[spec], spec), spec
    match = _EMPTY.match(spec)
    if match:
        height = int(match.group(1))
        width = int(match.group(2) or match.group(1))
        if height < 1 or width < 1 or height * width < 2:
            raise MFGError(f"map {spec!r}: an empty grid needs at least 2 cells")
        if check_size is not None:
            check_size(height, width)
        return np.ones((height, width), dtype=bool), spec
    if "\n" in spec or "#" in spec:
        return parse_picture(spec, "the map string"), "custom"
    if os.path.isfile(spec):
        label = os.path.basename(spec)
        if label in NAMED_MAPS or _EMPTY.match(label):  # a user's picture is never taken for a named map
            label = f"file {label}"
        return parse_picture(read_map_file(spec), f"map file {spec!r}"), label
    names = ", ".join(sorted(NAMED_MAPS))
    raise MFGError(
        f"unknown map {spec!r}: use one of {names}, 'empty:N' or 'empty:HxW', "
        "a picture string with '#' walls, or the path of a text file"
    )


def read_map_file(path: str) -> str:
    """The text of a map file; one line when it cannot be read or is not text (binary, not UTF-8)."""
    what = "a text file of rows of '#' (wall) and other characters (free)"
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MAP_BYTES + 1)
    except OSError as error:
        raise MFGError(f"cannot read map file {path!r}: {error.strerror or error}") from None
    if len(data) > MAX_MAP_BYTES:
        raise MFGError(
            f"map file {path!r} is larger than {MAX_MAP_BYTES // 2**20} MiB: a map is a text "
            "picture of '#' walls and free cells; for large empty grids use 'empty:HxW'"
        )
    if b"\x00" in data:
        raise MFGError(f"map file {path!r} is binary data (it holds NUL bytes); a map file is {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MFGError(
            f"map file {path!r} is not UTF-8 text (byte {error.start} is {data[error.start]:#04x}); "
            f"a map file is {what}"
        ) from None


def map_label(label: str, free: np.ndarray) -> str:
    """What to record as a game's ``map`` parameter: the name, or the picture itself."""
    if label in NAMED_MAPS or _EMPTY.match(label):
        return label
    return "\n".join("".join(" " if f else "#" for f in row) for row in free)


def cell_index(cell, free: np.ndarray, what: str) -> int:
    """Row-major index of a ``(row, col)`` cell, checked to be a free cell of the map."""
    height, width = free.shape
    try:
        row, col = (int(v) for v in cell)
    except (TypeError, ValueError):
        raise MFGError(f"{what} must be a (row, col) pair of integers, got {cell!r}") from None
    name = what.split()[-1]
    if not (0 <= row < height and 0 <= col < width):
        raise MFGError(f"{what} {(row, col)} is outside the {height}x{width} map; pass {name}=ROW,COL of a free cell")
    if not free[row, col]:
        raise MFGError(
            f"{what} {(row, col)} is a wall of the map; pass {name}=ROW,COL of a free cell"
            + (" or mu0=uniform" if name == "mu0" else "")
        )
    return row * width + col


def parse_cells(spec, what: str) -> list:
    """A cell or list of cells from ``(r, c)``, ``[(r, c), ...]`` or ``"r,c;r,c"`` strings."""
    if isinstance(spec, str):
        try:
            return [tuple(int(v) for v in part.split(",")) for part in spec.split(";") if part.strip()]
        except ValueError:
            raise MFGError(f"{what} {spec!r}: write cells as 'row,col' separated by ';'") from None
    how = f"{what} must be a (row, col) cell, a list of cells or a 'row,col;row,col' string, got {spec!r}"
    try:
        items = list(spec)
        if len(items) == 2 and all(np.isscalar(v) for v in items):
            return [tuple(items)]
        return [tuple(cell) for cell in items]
    except TypeError:
        raise MFGError(how) from None


def initial_distribution_on(free: np.ndarray, spec, what: str = "mu0") -> np.ndarray:
    """``(S,)`` float64 initial distribution on a grid from a user spec.

    ``spec``: ``"uniform"`` (all free cells), one ``(row, col)`` cell, a list of
    cells (uniform over them), a ``"r,c;r,c"`` string, or non-negative weights of
    shape ``(H, W)`` or ``(S,)`` that put no mass on walls.
    """
    height, width = free.shape
    if isinstance(spec, str) and spec == "uniform":
        weights = free.reshape(-1).astype(np.float64)
        return weights / weights.sum()
    if isinstance(spec, np.ndarray) and spec.dtype.kind == "f":
        weights = np.asarray(spec, dtype=np.float64).reshape(-1)
        if weights.size != height * width:
            raise MFGError(f"{what} weights have {weights.size} entries; the map has {height * width} cells")
        if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
            raise MFGError(f"{what} weights must be finite, non-negative and not all zero")
        if (weights[~free.reshape(-1)] > 0).any():
            raise MFGError(f"{what} puts mass on a wall cell; zero the weights on '#' cells")
        return weights / weights.sum()
    cells = parse_cells(spec, what)
    if not cells:
        raise MFGError(f"{what} lists no cell")
    weights = np.zeros(height * width)
    for cell in cells:
        weights[cell_index(cell, free, what)] += 1.0
    return weights / weights.sum()
