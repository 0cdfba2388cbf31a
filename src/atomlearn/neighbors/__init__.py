"""Neighbour lists (reference implementation over ASE's ``neighbor_list``)."""

from ._base import Neighbors, check_cell, neighbor_list

__all__ = ["Neighbors", "check_cell", "neighbor_list"]
