"""`jaxlens extract`: frozen item features, computed once, for the VIDRec towers.

A top-level command beside `jaxlens.main`: it may import any lower layer, nothing imports it.
"""
