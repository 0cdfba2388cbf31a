"""Pictures a person would rather look at than read: parity plots and learning curves.

Uses matplotlib's object-oriented API (no pyplot state, no display needed).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _figure(width=4.8, height=4.4):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=120, layout="constrained")


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    fig.savefig(tmp)
    os.replace(tmp, path)
    return path


def parity_plot(reference, predicted, path, *, std=None, name: str = "energy",
                unit: str = "eV", title: str | None = None) -> Path:
    """Predicted vs reference values, with error bars when ``std`` is given.

    Parameters
    ----------
    reference, predicted : array_like
        Values of the same shape (flattened).
    path : str or path-like
        PNG to write.
    std : array_like, optional
        Predicted standard deviations (drawn as 2-sigma error bars).
    name, unit : str
        Axis labels.
    """
    ref = np.asarray(reference, float).ravel()
    pred = np.asarray(predicted, float).ravel()
    fig = _figure()
    ax = fig.add_subplot()
    shift = float(np.mean(ref)) if name == "energy" else 0.0
    label = f"{name} relative to {shift:.3f} {unit}" if shift else name
    if std is not None:
        ax.errorbar(ref - shift, pred - shift, yerr=2 * np.asarray(std, float).ravel(),
                    fmt="o", ms=3, alpha=0.6, elinewidth=0.6, label="prediction ± 2σ")
    else:
        ax.plot(ref - shift, pred - shift, "o", ms=3, alpha=0.6, label="prediction")
    lo, hi = min(ref.min(), pred.min()) - shift, max(ref.max(), pred.max()) - shift
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    mae = np.mean(np.abs(pred - ref))
    rmse = np.sqrt(np.mean((pred - ref) ** 2))
    ax.set_xlabel(f"reference {label} ({unit})")
    ax.set_ylabel(f"predicted {label} ({unit})")
    ax.set_title(title or f"{name}: MAE {mae:.3g} {unit}, RMSE {rmse:.3g} {unit}", fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def learning_curve_plot(curve, path, *, metric: str = "mae", title: str | None = None) -> Path:
    """Log-log learning curve: error vs number of training structures, mean ± std.

    Parameters
    ----------
    curve : LearningCurve
        Result of :func:`atomlearn.metrics.learning_curve`.
    path : str or path-like
        PNG to write.
    metric : str
        ``"mae"`` or ``"rmse"``.
    """
    fig = _figure(5.6, 4.2)
    ax = fig.add_subplot()
    for target in curve.targets:
        for subset, style in (("test", "o-"), ("train", "s--")):
            n, mean, std = curve.summary(target, metric, subset)
            if len(n) == 0:
                continue
            unit = curve.units.get(target, "")
            ax.errorbar(n, mean, yerr=std, fmt=style, capsize=3,
                        label=f"{target} {subset} ({unit})")
    _log_axes(ax, sorted({r["n_train"] for r in curve.rows}), metric.upper(),
              title or "Learning curve")
    return _save(fig, path)


def _log_axes(ax, sizes, ylabel: str, title: str) -> None:
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("number of training structures")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def learning_curves_plot(curves, path, *, target: str, metric: str = "mae",
                         title: str | None = None) -> Path:
    """Held-out learning curves of several models for one target on one log-log plot.

    Parameters
    ----------
    curves : mapping of str to LearningCurve
        Label (e.g. the model type) to its curve; all on the same test set.
    path : str or path-like
        PNG to write.
    target : str
        Target to show (e.g. ``"forces"``).
    metric : str
        ``"mae"`` or ``"rmse"``.
    """
    fig = _figure(5.6, 4.2)
    ax = fig.add_subplot()
    sizes, unit = set(), ""
    for label, curve in curves.items():
        n, mean, std = curve.summary(target, metric, "test")
        if len(n) == 0:
            continue
        unit = curve.units.get(target, unit)
        sizes.update(int(k) for k in n)
        ax.errorbar(n, mean, yerr=std, fmt="o-", capsize=3, label=label)
    _log_axes(ax, sorted(sizes), f"{target} test {metric.upper()} ({unit})",
              title or f"Learning curves: {target}")
    return _save(fig, path)


def spectrum_plot(spectrum, path, *, max_wavenumber: float = 4000.0,
                  title: str | None = None) -> Path:
    """IR and Raman spectra (each scaled to its maximum) against wavenumber (cm⁻¹)."""
    panels = [k for k in ("ir", "raman") if any(n.startswith(k) for n in spectrum.intensity)]
    fig = _figure(6.4, 2.4 * len(panels) + 0.6)
    keep = spectrum.wavenumber <= max_wavenumber
    for k, panel in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, k + 1)
        for name, values in spectrum.intensity.items():
            if not name.startswith(panel):
                continue
            v = values[keep]
            # scale by the largest peak away from zero frequency (if there is one)
            scale = np.abs(v[1:] if len(v) > 1 else v).max(initial=0.0)
            ax.plot(spectrum.wavenumber[keep], v / max(scale, 1e-300),
                    lw=1.0, label=name.replace("_", " "))
        ax.set_ylabel("intensity (scaled)")
        ax.set_xlim(0, max_wavenumber)
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
    ax.set_xlabel("wavenumber (cm⁻¹)")
    fig.suptitle(title or "Vibrational spectra", fontsize=9)
    return _save(fig, path)


def dos_plot(grid, predicted, path, *, std=None, spread=None, reference=None,
             fermi_level: float | None = None, incomplete_above: float | None = None,
             unit: str = "states/eV",
             xlabel: str = "E - E_ref (eV)", ylabel: str | None = None,
             title: str | None = None) -> Path:
    """A predicted density of states (or any spectrum on an energy grid, with
    ``ylabel``) with its 2-sigma band (and the spread of the frames of an ensemble), over
    the reference when there is one.

    Parameters
    ----------
    grid : array of shape (n_grid,)
        Energies (eV).
    predicted : array of shape (n_grid,)
    path : str or path-like
        PNG to write.
    std, spread : array of shape (n_grid,), optional
        The model's standard deviation; the standard deviation across frames.
    reference : array of shape (n_grid,), optional
    fermi_level : float, optional
        The predicted Fermi level on the grid's scale (eV), drawn as a dashed line.
    incomplete_above : float, optional
        Energy (eV) above which the spectrum misses lines (states not computed), shaded.
    """
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot()
    if spread is not None:
        ax.fill_between(grid, predicted - spread, predicted + spread, color="tab:orange",
                        alpha=0.25, lw=0, label="spread over frames (1σ)")
    if std is not None:
        ax.fill_between(grid, predicted - 2 * std, predicted + 2 * std, color="tab:blue",
                        alpha=0.3, lw=0, label="model uncertainty (2σ)")
    if reference is not None:
        ax.plot(grid, reference, color="black", lw=1.2, label="reference")
    ax.plot(grid, predicted, color="tab:blue", lw=1.2, label="predicted")
    if incomplete_above is not None and incomplete_above < grid[-1]:
        ax.axvspan(max(incomplete_above, grid[0]), grid[-1], color="gray", alpha=0.12, lw=0,
                   label="incomplete (states not computed)")
    if fermi_level is not None and np.isfinite(fermi_level):
        ax.axvline(fermi_level, color="gray", ls="--", lw=0.8, label="predicted Fermi level")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or f"DOS ({unit})")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def on_the_fly_plot(log_csv, path, *, lower: float | None = None,
                    upper: float | None = None) -> Path:
    """An on-the-fly run's log as three panels against MD time: the largest force std of
    each step (with the thresholds and the labelled steps), the reference calls so far,
    and the force error of each labelled frame before it was learned (the running test
    error) with its predicted 1-sigma coverage."""
    import csv

    with open(log_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    t = np.array([float(r["time_fs"]) for r in rows])
    u = np.array([float(r["max_force_std"]) for r in rows])
    labels = np.array([int(r["n_labels"]) for r in rows])
    hit = np.array([bool(r["force_mae"]) for r in rows])
    mae = np.array([float(r["force_mae"]) for r in rows if r["force_mae"]])
    fig = _figure(6.0, 7.0)
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    ax1.semilogy(t, u, lw=0.7, color="tab:blue", label="largest force std")
    ax1.plot(t[hit], u[hit], "o", ms=3, color="tab:red", label="labelled")
    for value, name in ((lower, "lower"), (upper, "upper")):
        if value is not None:
            ax1.axhline(value, color="gray", ls="--", lw=0.8)
            ax1.text(t[0] if len(t) else 0, value, f" {name}", va="bottom", fontsize=7)
    ax1.set_ylabel("force std (eV/Å)")
    ax1.legend(frameon=False, fontsize=8)
    ax2.step(t, labels, where="post", color="tab:red")
    ax2.set_ylabel("reference calls")
    ax3.semilogy(t[hit], mae, "o-", ms=3, lw=0.7, color="tab:green")
    ax3.set_ylabel("force MAE before\nlearning (eV/Å)")
    ax3.set_xlabel("MD time (fs)")
    for ax in (ax1, ax2, ax3):
        ax.grid(True, alpha=0.3)
    return _save(fig, path)


def band_structure_plot(x, bands, path, *, ticks, labels, std=None, reference=None,
                        title: str = "", ylabel: str = "E - VBM (eV)") -> Path:
    """Bands ``(n_k, n_bands)`` against the path coordinate ``x`` (1/Å), with ±2σ bands,
    the high-symmetry points ``ticks``/``labels`` and ``reference`` ``(x_ref, bands_ref)``
    as markers."""
    fig = _figure(5.2, 4.4)
    ax = fig.add_subplot()
    for b in range(bands.shape[1]):
        ax.plot(x, bands[:, b], color="C0", lw=1.4, label="predicted" if b == 0 else None)
        if std is not None:
            ax.fill_between(x, bands[:, b] - 2 * std[:, b], bands[:, b] + 2 * std[:, b],
                            color="C0", alpha=0.2, lw=0, label="±2σ" if b == 0 else None)
    if reference is not None:
        x_ref, e_ref = reference
        for b in range(e_ref.shape[1]):
            ax.plot(x_ref, e_ref[:, b], "o", ms=3, color="k",
                    label="reference" if b == 0 else None)
    for t in ticks:
        ax.axvline(t, color="0.7", lw=0.8)
    ax.axhline(0.0, color="0.7", lw=0.8, ls="--")
    ax.set_xticks(ticks, labels)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def density_slice_plot(u, v, density, path, *, atoms_uv=None, symbols=None, error=None,
                       title: str = "") -> Path:
    """A density on a plane (electrons/bohr^3, log colour scale) and, when given, an error
    density beside it (symmetric linear scale).

    Parameters
    ----------
    u, v : ndarray
        Plane coordinates of the grid's columns and rows, Å.
    density : ndarray [len(v), len(u)]
    path : str or path-like
        PNG to write.
    atoms_uv : ndarray [n_atoms, 2], optional
        The atoms projected on the plane, Å, labelled with ``symbols``.
    error : ndarray [len(v), len(u)], optional
        Predicted minus reference density.
    """
    from matplotlib.colors import LogNorm

    panels = 1 if error is None else 2
    fig = _figure(4.6 * panels, 4.2)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    image = axes[0].pcolormesh(u, v, np.maximum(density, 1e-4), norm=LogNorm(1e-4, 1e2),
                               cmap="viridis", shading="auto")
    fig.colorbar(image, ax=axes[0], label="ρ (e/bohr³)")
    axes[0].set_title(title or "predicted density")
    if error is not None:
        scale = float(np.abs(error).max()) or 1.0
        image = axes[1].pcolormesh(u, v, error, cmap="RdBu_r", vmin=-scale, vmax=scale,
                                   shading="auto")
        fig.colorbar(image, ax=axes[1], label="Δρ (e/bohr³)")
        axes[1].set_title("predicted − reference")
    for ax in axes:
        ax.set_aspect("equal")
        ax.set_xlabel("u (Å)")
        ax.set_ylabel("v (Å)")
        if atoms_uv is not None:
            ax.scatter(atoms_uv[:, 0], atoms_uv[:, 1], s=8, c="white", edgecolors="k",
                       linewidths=0.5)
            for (x, y), s in zip(atoms_uv, symbols or [""] * len(atoms_uv), strict=True):
                ax.annotate(s, (x, y), xytext=(3, 3), textcoords="offset points",
                            fontsize=7, color="white")
    return _save(fig, path)
