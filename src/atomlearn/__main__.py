"""``python -m atomlearn`` (and ``torchrun -m atomlearn``): the ``atomlearn`` command."""

from .cli.main import entry

if __name__ == "__main__":
    entry()
