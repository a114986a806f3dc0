"""What several experiments share and the library does not: loading a finished run's params
and data, image grids (``generative_runs``), MNIST padded to 32×32 and per-layer gradient
norms (``resnet_runs``). The scripts import it as ``helpers`` (their folder is on the path
when run as ``python experiments/NAME.py``)."""
