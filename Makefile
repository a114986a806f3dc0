# Two-command set-up: `make demo` and `make test` each create .venv and install what they need:
# the pinned, hash-checked set of requirements/lock.txt (`make lock` regenerates it), then
# jaxnn itself without dependencies; `pip check` fails if the lock no longer satisfies
# pyproject.toml's ranges (regenerate it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt

.PHONY: demo test test-tier2 notebooks lint lock docs bench bench-gpu experiments check-versions clean

EXPERIMENTS := logistic_regression vectorization per_example_grads planar_shallow \
	two_layer_random activations initialization regularization linear_regression \
	hinge_vs_softmax conv_backward rnn_memory

$(STAMP): pyproject.toml $(LOCK)
	@.ci/python-supported $(PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/jaxnn demo

# pytest exits 5 when it collects nothing: treat that as a failure, never a silent pass.
test: $(STAMP)
	$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The slower tier: whole runs of every registered model (resume = uninterrupted, config.json
# rebuilds the model) and its gradient check (both precisions, two seeds, a planted bug);
# its tests spread over the workers one by one; SDLM's curvature of every registered model
# (tests/test_sdlm.py); and the notebooks of tests/test_notebooks.py
# (all of them; those marked tier 2, ids ending in -tier2, only here). TIER2="-k resumed"
# selects the runs alone (26 models, 7 min 22 s on 2 idle AVX-512 cores), and .ci/run runs
# TIER2="-k 'resumed or tier2'" after make test: the runs and the slower notebooks; the
# gradient checks of the 56- and 110-layer nets take minutes each (docs/guarantees.md).
TIER2 ?=
test-tier2: $(STAMP)
	JAXNN_TIER2=1 $(BIN)/python -m pytest --dist load tests/test_conformance_runs.py tests/test_sdlm.py \
		tests/test_notebooks.py $(TIER2); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check jaxnn tests experiments bench docs/scripts notebooks
	$(BIN)/ruff format --check jaxnn tests experiments bench docs/scripts notebooks

# The notebooks (notebooks/*.py, jupytext percent format) in JupyterLab with this project's
# environment: the lab extra (not in the lock) on top of the locked set, this checkout's
# jaxnn on the kernel's path. jupytext opens each .py as a notebook and pairs it with an
# .ipynb beside it (git-ignored: outputs are never committed; the .py is what is kept).
notebooks: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	PYTHONPATH=$(CURDIR) $(BIN)/jupyter lab notebooks

# KaTeX ships with the site (formulas render offline): its dist files from the npm registry's
# katex package, copied into docs/ (git-ignored) once per version.
KATEX_VERSION = 0.16.22
# the registry's dist.shasum of that tarball: a different file stops the build
KATEX_SHA1 = d2b3d66464b1e6d69e6463b28a86ced5a02c5ccd
KATEX = docs/javascripts/katex
$(KATEX)/katex.min.js:
	rm -rf $(KATEX) && mkdir -p $(KATEX)
	tmp=$$(mktemp -d) && (cd $$tmp && npm pack --silent katex@$(KATEX_VERSION) >/dev/null \
	  && echo "$(KATEX_SHA1)  katex-$(KATEX_VERSION).tgz" | sha1sum --check --quiet \
	  && tar xzf katex-$(KATEX_VERSION).tgz) && cp -r $$tmp/package/dist/katex.min.js \
	  $$tmp/package/dist/katex.min.css $$tmp/package/dist/fonts $$tmp/package/dist/contrib \
	  $$tmp/package/LICENSE $(KATEX)/ && rm -rf $$tmp

# The documentation site (mkdocs.yml, docs/): the docs extra is in requirements/lock.txt, so
# .venv has it; builds offline (after the one KaTeX fetch above) and strictly into site/ (a
# broken link or anchor, a page outside the nav, or a `:::` reference to a missing object
# fails the build). The two variables silence a banner printed by plugins.
docs: $(STAMP) $(KATEX)/katex.min.js
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/python -m pytest -q -n 0 -p no:cacheprovider tests/test_docs_offline.py  # with KaTeX in place: none skipped

# Reruns every experiment with its defaults into runs/experiments/NAME, the claims report,
# and the homework on Fashion-MNIST (needs Debian's dataset-fashion-mnist, or --manual-dir).
# MNIST_DIR=folder (the IDX files, mnist.npz or mnist.pkl.gz) adds the homework on MNIST,
# seeds 0-4, before the claims report, which judges the notes' 0.935 from it.
experiments: $(STAMP)
	@mkdir -p runs/experiments
	@for name in $(EXPERIMENTS); do \
		echo "== $$name"; \
		$(BIN)/python experiments/$$name.py --out runs/experiments/$$name > runs/experiments-$$name.log \
			|| { cat runs/experiments-$$name.log; exit 1; }; \
	done
	@if [ -n "$(MNIST_DIR)" ]; then \
		rm -rf runs/experiments/homework_mnist; \
		$(BIN)/python experiments/homework_mlp.py --dataset mnist --manual-dir "$(MNIST_DIR)" \
			--seeds 0,1,2,3,4 --out runs/experiments/homework_mnist; \
	fi
	$(BIN)/jaxnn verify-notes --out runs/experiments/claims.json
	rm -rf runs/experiments/homework_mlp
	$(BIN)/python experiments/homework_mlp.py --dataset fashion_mnist --out runs/experiments/homework_mlp
	rm -rf runs/experiments/lenet5-fashion_mnist
	$(BIN)/python experiments/lenet5.py --dataset fashion_mnist --epochs 10 --out runs/experiments/lenet5-fashion_mnist

# The side-by-side benchmark (needs Fashion-MNIST: Debian's dataset-fashion-mnist or a
# prepared TFDS copy). Installs the optional torch==2.13.0 CPU build. OpenBLAS's core-type
# override (set on some of these machines) would slow numpy's BLAS: unset for this run only.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/bench.py
	$(BIN)/python bench/scaling.py
	$(BIN)/python bench/sweep_bench.py
	$(BIN)/python bench/conv_bench.py
	$(BIN)/python bench/rnn_bench.py $(if $(MNIST_DIR),--manual-dir $(MNIST_DIR),--dataset fashion_mnist)
	$(BIN)/python bench/generative_bench.py
	$(BIN)/python bench/transformer_bench.py --rounds 3 --steps 10
	$(BIN)/python bench/distort_bench.py  # LeNet-5 (1998)'s distorted digits: cost per epoch
	$(BIN)/python bench/table.py  # one table of every family, targets met or not (docs/performance.md)

# The convolutional and recurrent benches on a GPU: jax on XLA:GPU (the cuda12 extra) beside
# PyTorch with cuDNN (benchmark mode on); needs a CUDA build of torch==2.13.0 installed in .venv
# (the bench extra's CPU wheel cannot see the GPU). PEAK_TFLOPS=67 (the GPU's float32 data-sheet
# rate) makes that the bound. Has not been run yet (docs/performance.md).
bench-gpu: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[cuda12]'
	$(BIN)/python -c "import jax, torch, sys; sys.exit(0 if jax.default_backend() == 'gpu' \
		and torch.cuda.is_available() else 'bench-gpu: jax or torch sees no GPU')"
	$(BIN)/python bench/conv_bench.py --vgg-batch 32 --vgg-rounds 3 --out bench/conv_results_gpu.json \
		$(if $(PEAK_TFLOPS),--peak-tflops $(PEAK_TFLOPS))
	$(BIN)/python bench/rnn_bench.py --out bench/rnn_results_gpu.json \
		$(if $(MNIST_DIR),--manual-dir $(MNIST_DIR),--dataset fashion_mnist)

# Regenerates requirements/lock.txt (uv pip compile --universal --generate-hashes): the base
# dependencies and every extra except bench and cuda12, one version each for all supported
# Pythons; then checks that every pin has wheels for Linux x86-64/aarch64 and macOS arm64.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet 'uv>=0.5'
	UV=$(BIN)/uv PYTHON=$(BIN)/python .ci/lock

# The support matrix: for each Python, the lowest allowed versions of jaxnn's direct
# dependencies (uv --resolution lowest-direct) and the newest, each in its own venv
# (.venv-lowest-3.11, ...), then the tests: SUITE=fast (default: the files that exercise the
# dependencies' APIs, a few minutes per job) or SUITE=full (the whole suite, ~20 min per job).
# Summary: runs/check-versions/summary.tsv.
PYTHONS ?= 3.11 3.12 3.13
RESOLUTIONS ?= lowest newest
SUITE ?= fast
check-versions: $(STAMP)
	PYTHONS="$(PYTHONS)" RESOLUTIONS="$(RESOLUTIONS)" SUITE="$(SUITE)" UV=$(BIN)/uv .ci/check-versions

clean:
	rm -rf $(VENV) .venv-lowest-* .venv-newest-* runs build site *.egg-info
