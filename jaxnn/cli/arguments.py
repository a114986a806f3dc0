"""Arguments several subcommands share (``train`` and ``sweep``): the manual folder, the
distributed run's, the image models' input size."""

from __future__ import annotations

MANUAL_DIR_HELP = (
    "folder holding the dataset: the four IDX files (gzipped or not), or for MNIST Keras's "
    "mnist.npz or mnist.pkl.gz; verified against the canonical SHA-256 (exit code 3 if not)"
)


def add_distributed_arguments(p) -> None:
    p.add_argument(
        "--distributed", action="store_true",
        help="one of several processes (hosts) training together (docs/scale.md)",
    )  # fmt: skip
    p.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="--distributed: process 0's address (default: JAX_COORDINATOR_ADDRESS "
                   "or the cluster manager's, e.g. SLURM)")  # fmt: skip
    p.add_argument("--num-processes", type=int, default=None, metavar="N",
                   help="--distributed: how many processes (default: JAX_NUM_PROCESSES, "
                   "SLURM)")  # fmt: skip
    p.add_argument("--process-id", type=int, default=None, metavar="I",
                   help="--distributed: this process's index 0..N-1 (default: "
                   "JAX_PROCESS_ID, SLURM)")  # fmt: skip
    p.add_argument("--coordinator-timeout", type=float, default=20.0, metavar="S",
                   help="--distributed: give up if the coordinator does not answer within "
                   "S seconds")  # fmt: skip


def add_input_shape_arguments(p) -> None:
    """--input-shape and --resize of train and sweep (jaxnn.models.input_adapter)."""
    p.add_argument("--input-shape", default=None, metavar="H,W,C",
                   help="convolutional models: build the model for H,W,C and pad the data's "
                   "images to it, centred (MNIST 28×28 to 32,32,1 for lenet5_1998)")  # fmt: skip
    p.add_argument("--resize", action="store_true",
                   help="with --input-shape: resize the images (bilinear) instead of padding "
                   "(e.g. Fashion-MNIST to 224,224,1 for vgg11)")  # fmt: skip
