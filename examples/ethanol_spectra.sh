#!/usr/bin/env bash
# IR and Raman spectra of ethanol from ML dynamics, with the command line only:
# a sparse GPR potential drives NVE MD; SA-GPR dipole and polarizability models label the
# trajectory; 'atomlearn spectrum' Fourier-transforms their time derivatives' correlations.
#   bash examples/ethanol_spectra.sh [OUT_DIR] [STEPS]
set -euo pipefail
out=${1:-runs/spectra}
steps=${2:-20000}                 # 0.5 fs steps: 10 ps by default
mkdir -p "$out"
atomlearn fit examples/ethanol_gpr.yaml -o "$out/potential.alm" --set output.plots=false \
    --set model.hyperparameters=fixed
atomlearn fit examples/ethanol_dipole_sagpr.yaml -o "$out/dipole.alm" --set output.plots=false
atomlearn fit examples/ethanol_polarizability_sagpr.yaml -o "$out/alpha.alm" \
    --set output.plots=false
# a start structure from the shipped data, then 300 K NVE dynamics sampled every 2 fs
python -c "from atomlearn.datasets import load_ethanol; from ase.io import write; \
write('$out/start.xyz', load_ethanol(':1'))"
atomlearn md "$out/potential.alm" "$out/start.xyz" --steps "$steps" --timestep 0.5 \
    --temperature 300 --interval 4 --no-uncertainty -o "$out/md.xyz"
atomlearn predict "$out/dipole.alm" "$out/md.xyz" -o "$out/md_mu.xyz" --no-std
atomlearn predict "$out/alpha.alm" "$out/md_mu.xyz" -o "$out/md_labelled.xyz" --no-std
atomlearn spectrum "$out/md_labelled.xyz" -o "$out/spectra.png" --correlation-length 1000 \
    --quantum-correction harmonic --temperature 300
