"""Moves on lattices: deterministic successor tables for grids, tori and rings.

Cells of an ``(H, W)`` grid are numbered row-major, ``s = row * W + col``, walls
included (they are simply never reached). A move is a ``(drow, dcol)`` pair.
"""

from __future__ import annotations

import numpy as np


def grid_moves(free: np.ndarray, moves, torus: bool = False):
    """Successor of every cell under every move.

    Args:
      free: ``(H, W)`` bool, ``True`` where a cell can be occupied.
      moves: sequence of ``A`` ``(drow, dcol)`` pairs.
      torus: wrap around the edges; otherwise leaving the grid is blocked.

    Returns:
      ``(target, allowed)``: ``target[S, A]`` int32 is the cell the move leads to
      (the cell itself when the move is blocked by a wall or the edge) and
      ``allowed[S, A]`` bool says whether the move was possible.
    """
    free = np.asarray(free, dtype=bool)
    height, width = free.shape
    rows, cols = np.divmod(np.arange(height * width), width)
    target = np.empty((height * width, len(moves)), dtype=np.int32)
    allowed = np.empty((height * width, len(moves)), dtype=bool)
    for a, (drow, dcol) in enumerate(moves):
        r, c = rows + drow, cols + dcol
        if torus:
            r, c = r % height, c % width
            inside = np.ones_like(r, dtype=bool)
        else:
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        rc = np.where(inside, r, 0), np.where(inside, c, 0)
        ok = inside & free[rc]
        allowed[:, a] = ok
        target[:, a] = np.where(ok, rc[0] * width + rc[1], np.arange(height * width))
    return target, allowed


def ring_moves(size: int, steps) -> np.ndarray:
    """Successors ``(s + step) mod size`` on a ring, ``(size, len(steps))`` int32."""
    cells = np.arange(size)[:, None]
    return ((cells + np.asarray(steps)[None, :]) % size).astype(np.int32)


def noisy_moves(target: np.ndarray, noise: float):
    """Fan-out table of moves where a uniformly random action replaces the chosen one with probability ``noise``.

    Args:
      target: ``(S, A)`` int successor of every cell under every action (as from
        :func:`grid_moves` or :func:`ring_moves`).
      noise: probability in ``[0, 1]`` that the executed action is drawn
        uniformly among the ``A`` actions instead of the chosen one.

    Returns:
      ``(next_state, prob)``, both ``(S, A, K)``: with ``noise > 0``, ``K = A``
      and entry ``k`` is the cell reached by action ``k``, with probability
      ``noise / A``, plus ``1 - noise`` for ``k = a``; with ``noise = 0``,
      ``K = 1`` and the chosen move happens for sure.
    """
    target = np.asarray(target)
    n_states, n_actions = target.shape
    if noise > 0:
        next_state = np.array(np.broadcast_to(target[:, None, :], (n_states, n_actions, n_actions)))
        prob = np.full((n_states, n_actions, n_actions), noise / n_actions)
        prob[:, np.arange(n_actions), np.arange(n_actions)] += 1.0 - noise
    else:
        next_state = np.array(target[:, :, None])
        prob = np.ones(next_state.shape)
    return next_state, prob
