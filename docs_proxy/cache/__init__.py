"""The docs cache's two layers: an in-process LRU per kind of entry (L1) and the shared Django cache `docs` (L2).

`memory` is L1, `shared` is L2 (with `backends`, what each Django backend needs), `layers` holds the
process's handles on both, and `single_flight` makes concurrent misses in one process share one load.
"""
