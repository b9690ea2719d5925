"""Which node OpenSpiel's recursive evaluators visit first, and what follows.

OpenSpiel's Python MFG algorithms (policy value, best response, mirror descent)
evaluate the game tree depth first and cache every value under the node's
observation string, ``(x, t)`` or ``(x, y, t)``. That string omits the previous
action, yet the crowd-modelling rewards charge the previous move. Two
consequences matter for reproducing OpenSpiel's numbers to the last digit:

1. *First-arrival move cost.* The value cached at decision node ``(s, t)``
   contains the move cost of the action on the first depth-first path that
   reached it, and every later arrival reuses it. The move cost is therefore a
   function ``c[t, s]`` of the node, fixed by the traversal order.
2. *Stale children in mirror descent.* ``MirrorDescent`` reads the current
   policy from the cumulative value table while it is adding this iteration's
   values to it. When decision node ``(s, t)`` is expanded, a child chance node
   (keyed by the post-move cell) that an earlier-visited sibling parent already
   evaluated already carries this iteration's increment.

Both are determined by the order of the traversal: decision nodes at level ``t``
are expanded in their first-visit order, their chance children in action order,
then the noise outcomes in outcome order. :func:`openspiel_traversal` computes
that order level by level with array operations (no recursion, no Python loop
over states).
"""

from __future__ import annotations

import numpy as np


def openspiel_traversal(post_move, legal, noise_next, noise_legal, initial_order, horizon):
    """First-arrival actions and stale-child masks of OpenSpiel's depth-first order.

    Args:
      post_move: ``(S, A)`` int, the key ``0..C-1`` of the chance node after the
        deliberate move (the post-move cell, ``C = S``, in the crowd games; the
        pair ``(s, a)`` itself, ``C = S A``, where OpenSpiel's chance string
        holds the action, as in ``garnet``).
      legal: ``(S, A)`` bool, the legal actions (enumerated in index order).
      noise_next: ``(C, N)`` int, the cell after noise outcome ``n`` from chance node ``c``.
      noise_legal: ``(C, N)`` bool, the noise outcomes OpenSpiel enumerates there.
      initial_order: the initial chance outcomes' cells, in OpenSpiel's order.
      horizon: ``T``.

    Returns:
      ``(first_action, stale)``: ``first_action[T, S]`` int is the action taken just
      before the first arrival at decision node ``(s, t)`` (``-1`` at ``t = 0`` or
      where the node is never reached); ``stale[T, S, A]`` bool marks the children
      of ``(s, t)`` that were already evaluated by an earlier decision node.
    """
    post_move = np.asarray(post_move, dtype=np.int64)
    noise_next = np.asarray(noise_next, dtype=np.int64)
    n_states, n_actions = post_move.shape
    n_chance, n_noise = noise_next.shape
    unreached = np.iinfo(np.int64).max

    first_action = np.full((horizon, n_states), -1, dtype=np.int64)
    stale = np.zeros((horizon, n_states, n_actions), dtype=bool)
    rank = np.full(n_states, unreached, dtype=np.int64)
    rank[np.asarray(initial_order, dtype=np.int64)] = np.arange(len(initial_order))

    for t in range(horizon):
        reached = rank != unreached
        by_rank = np.full(n_states, -1, dtype=np.int64)
        by_rank[rank[reached]] = np.nonzero(reached)[0]
        expanded = reached[:, None] & legal
        # Chance node y = post_move[u, a] is first visited by the smallest (rank(u), a).
        keys = rank[:, None] * n_actions + np.arange(n_actions)[None, :]
        chance_key = np.full(n_chance, unreached, dtype=np.int64)
        np.minimum.at(chance_key, post_move[expanded], keys[expanded])
        first_parent = np.full(n_chance, -1, dtype=np.int64)
        seen = chance_key != unreached
        first_parent[seen] = by_rank[chance_key[seen] // n_actions]
        stale[t] = expanded & (first_parent[post_move] != np.arange(n_states)[:, None])
        if t + 1 == horizon:
            break
        # Decision node v at t+1 is first visited by the smallest (chance key, outcome).
        outcomes = seen[:, None] & noise_legal
        next_keys = chance_key[:, None] * n_noise + np.arange(n_noise)[None, :]
        node_key = np.full(n_states, unreached, dtype=np.int64)
        np.minimum.at(node_key, noise_next[outcomes], next_keys[outcomes])
        arrived = node_key != unreached
        first_action[t + 1, arrived] = (node_key[arrived] // n_noise) % n_actions
        rank = np.full(n_states, unreached, dtype=np.int64)
        order = np.nonzero(arrived)[0][np.argsort(node_key[arrived], kind="stable")]
        rank[order] = np.arange(order.size)
    return first_action, stale
