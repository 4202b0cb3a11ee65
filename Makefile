# hepsig-tutorial: the two commands of the README are `make book` and `make test`.
# Both create/update the local virtual environment .venv by themselves.

PYTHON      ?= python3
VENV        ?= .venv
# PyTorch is installed first and on its own: a plain `pip install torch` pulls a multi-GB CUDA build.
# Override for another build, e.g. make book TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC  ?= torch==2.13.0
HEPSIG_MODE ?= fast
BOOK_FLAGS  ?= -W -n --keep-going
# MathJax: served from the book itself (local, works offline; copied from a PyPI package in the venv)
# or from a public CDN (cdn). The sliders need no JavaScript library (static frames, hepsig-sliders.js).
HEPSIG_ASSETS ?= local

BIN   := $(VENV)/bin
STAMP := $(VENV)/.hepsig-installed
STAGE := book/_build/tested
ASSETS := $(VENV)/share/hepsig-book-assets
BOOK_ENV = HEPSIG_ASSETS=$(1) HEPSIG_ASSETS_DIR=$(abspath $(ASSETS))
# Notebooks run with the inline matplotlib backend (figures become images) and no progress bars.
NB_ENV := HEPSIG_MODE=$(HEPSIG_MODE) HEPSIG_PROGRESS=0 MPLBACKEND=module://matplotlib_inline.backend_inline PYDEVD_DISABLE_FILE_VALIDATION=1

.PHONY: help venv book book-assets test test-unit test-notebooks test-book clean system-deps-book system-deps-test

# System packages (python3-venv; Chromium for the tests): installed with apt-get as root or with
# password-less sudo, else the build stops at once saying what to install. The same script serves .ci/run.
system-deps-book system-deps-test: system-deps-%:
	@PYTHON=$(PYTHON) tools/system-deps.sh $* >/dev/null

help:
	@echo "make book   build the HTML book (FAST mode) into book/_build/html"
	@echo "make test   unit tests, every notebook under nbval, and the rendered book in headless Chromium"
	@echo "make clean  remove build outputs (keeps .venv)"
	@echo "options:    HEPSIG_MODE=fast|full  HEPSIG_ASSETS=local|cdn  TORCH_SPEC=...  (see book/running.md)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (hepsig-tutorial)" >/dev/null
	touch $(STAMP)

# Offline copy of MathJax 3 (skipped when already there; see book/tools/book_assets.py)
book-assets: venv
	@if [ "$(HEPSIG_ASSETS)" = local ]; then $(BIN)/python book/tools/book_assets.py $(ASSETS); fi

book: system-deps-book venv book-assets
	rm -rf book/_build/html book/_build/jupyter_execute book/_build/.doctrees
	$(NB_ENV) $(call BOOK_ENV,$(HEPSIG_ASSETS)) $(BIN)/jupyter-book build . --config book/_config.yml --toc book/_toc.yml --path-output book $(BOOK_FLAGS)
	@echo
	@echo "The book is in $(CURDIR)/book/_build/html/index.html"

# `make test` executes every notebook exactly once (nbval); tests/nbcapture.py keeps the executed
# copies, the book is rendered from them without re-executing, and Chromium checks the pages.
test: system-deps-test venv test-unit test-notebooks test-book

test-unit: venv
	MPLBACKEND=Agg HEPSIG_PROGRESS=0 $(BIN)/python -m pytest -q -m "not book" tests

test-notebooks: venv
	rm -rf $(STAGE)
	$(NB_ENV) $(BIN)/python -m pytest -q -p tests.nbcapture --nbcapture-dir $(STAGE) \
		--nbval-lax --nbval-cell-timeout=600 notebooks

# (absolute --toc/--config: jupyter-book resolves a relative --toc against the source folder)
test-book: venv book-assets
	$(BIN)/python tests/stage_book.py $(STAGE)
	rm -rf $(STAGE)/_build
	HEPSIG_MODE=$(HEPSIG_MODE) $(call BOOK_ENV,$(HEPSIG_ASSETS)) $(BIN)/jupyter-book build $(abspath $(STAGE)) --config $(abspath $(STAGE))/book/_config.yml \
		--toc $(abspath $(STAGE))/book/_toc.yml --path-output $(abspath $(STAGE)) $(BOOK_FLAGS)
	HEPSIG_MODE=$(HEPSIG_MODE) HEPSIG_ASSETS=$(HEPSIG_ASSETS) HEPSIG_BOOK_HTML=$(STAGE)/_build/html \
		env $$(PYTHON=$(PYTHON) tools/system-deps.sh test) $(BIN)/python -m pytest -q -m book tests

clean:
	rm -rf book/_build .pytest_cache .hypothesis

# Opt-in GPU check (issue 17): the `gpu`-marked tests (losses and statistics on every device against the
# CPU) and one FAST notebook executed with HEPSIG_DEVICE=cuda. Without a CUDA GPU it says so and exits 0.
GPU_NOTEBOOK ?= notebooks/06-lovasz-z-loss.ipynb
.PHONY: test-gpu
test-gpu: venv
	@if ! $(BIN)/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then \
		echo "make test-gpu: no CUDA GPU visible to PyTorch -- skipped (nothing run)"; exit 0; fi; \
	MPLBACKEND=Agg HEPSIG_PROGRESS=0 HEPSIG_DEVICE=cuda $(BIN)/python -m pytest -q -m gpu tests && \
	$(NB_ENV) HEPSIG_DEVICE=cuda $(BIN)/python -m pytest -q --nbval-lax --nbval-cell-timeout=600 $(GPU_NOTEBOOK)
