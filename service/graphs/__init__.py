"""Stateful graph sessions for dynamic spectral sparsification (dyGRASS).

``POST /api/v1/graphs`` uploads a graph G and builds its initial sparsifier;
``POST /api/v1/graphs/{id}/updates`` applies a batch of edge insertions and deletions;
``GET /api/v1/graphs/{id}/sparsifier`` returns the current sparsifier (.npz or .mtx).
Sessions live in the job store (a ``graphs`` row per session, a ``graph_batches`` row per
batch) with their arrays in files beside it, so they survive restarts; update batches
to one graph are serialized across threads and processes by a lease on the row.
"""
