"""``sparse_gpr``: GAP-style sparse GPR of invariant targets with forces and stress."""

from .model import SparseGPRModel

__all__ = ["SparseGPRModel"]
