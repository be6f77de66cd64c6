# Set-up and entry points. `make repro` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR := /usr/share/datasets/fashion-mnist
export PATH := $(abspath $(BIN)):$(PATH)
export DVC_NO_ANALYTICS := 1

BASE ?= main

.PHONY: setup data torch postgres repro test test-fast lint format check-params clean-venv grid grid-report grid-push grid-pull search search-report report cnn dense-best experiments-report push pull register browser plots plots-diff plots-template

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Re-install only when the pins or the package metadata change. requirements.lock is the pipeline
# and the tests; requirements-serve.lock the CLI alone; requirements-torch.lock the optional backend.
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# The optional torch backend (CI installs it; its tests skip without it).
torch: $(VENV)/.torch
$(VENV)/.torch: requirements-torch.lock | $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-torch.lock
	@touch $@

setup: $(STAMP) data

# A data source for the download stage: Debian's package, unless params name a mirror.
data:
	@mirror=$$(sed -nE 's/^[[:space:]]*mirror:[[:space:]]*([^#[:space:]]*).*/\1/p' params.yaml); \
	if [ ! -d $(DATA_DIR) ] && { [ -z "$$mirror" ] || [ "$$mirror" = null ] || [ "$$mirror" = "~" ]; }; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's dataset-fashion-mnist into $(DATA_DIR)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 dataset-fashion-mnist >/dev/null; \
	  else \
	    echo "warning: no $(DATA_DIR) and no apt as root; the download stage will try the official URLs" >&2; \
	  fi; \
	fi

# $(call apt_package,TEST,PACKAGE,FOR): install Debian's PACKAGE (as root, with apt) unless the shell TEST
# finds it; without apt or root, warn that the tests FOR will skip (and fail under CI=true).
define apt_package
	@if ! $(1) >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's $(2) for $(3)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 $(2) >/dev/null; \
	  else \
	    echo "warning: no $(2) and no apt as root; $(3) will skip (fail under CI=true)" >&2; \
	  fi; \
	fi
endef

# Debian's chromium for the browser test of the plots page.
browser:
	$(call apt_package,command -v chromium,chromium,tests/test_plots_page.py)

# Debian's PostgreSQL server for the test of a search shared by two machines; the tests start their own
# server as an unprivileged user on a free port.
postgres:
	$(call apt_package,ls /usr/lib/postgresql/*/bin/initdb,postgresql,tests/lab/test_search.py)

repro: setup
	$(BIN)/dvc repro

# pytest-xdist: PYTEST_WORKERS processes (default 2, the cores of the machine kind CI runs on). `make test` keeps each
# module on one worker (--dist loadscope), so a module's projects are built once, and hands the modules out in
# collection order, the longest first (tests/conftest.py's LONGEST_FIRST); the unit tests share nothing, and go to
# whichever worker is free (--dist load). PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
xdist = -n $(PYTEST_WORKERS)$(if $(filter 0,$(PYTEST_WORKERS)),, --dist $(1))

test: setup lint browser postgres
	$(BIN)/python -m pytest -ra --durations=25 $(call xdist,loadscope --no-loadscope-reorder)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Data and models to and from the default DVC remote (.dvc/config; see README "Working as a team").
# Says so (one line) when what it pushes is not what the committed dvc.lock names.
push: $(STAMP)
	@{ $(BIN)/dvc status --quiet >/dev/null 2>&1 && git diff --quiet HEAD -- dvc.lock; } || echo "warning: the workspace's outputs or dvc.lock differ from the committed dvc.lock (see \`dvc status\`, \`git diff dvc.lock\`): pushing the workspace's, not the commit's" >&2
	$(BIN)/dvc push --run-cache

pull: $(STAMP)
	$(BIN)/dvc pull --run-cache --allow-missing

# Unit tests only: no DVC runs, no real-data training.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -ra $(call xdist,load) -m "not slow and not acceptance"

# The optimizer x dropout grid of grid.yaml as DVC experiments through the search engine (an Optuna study of
# enqueued points), JOBS (default 2) local workers; ONLY="a b" runs those again; STORAGE/PUSH as for search.
grid: setup
	$(BIN)/luckybag grid --grid grid.yaml --report reports/grid.md $(if $(ONLY),--only $(ONLY)) $(if $(JOBS),--jobs $(JOBS)) \
	  $(if $(STORAGE),--storage $(STORAGE)) $(if $(PUSH),--push $(PUSH))

# An Optuna search over SPACE (default search.yaml), each trial a `dvc exp run --temp` experiment; STORAGE a database
# URL shared by many machines (default: $$LUCKYBAG_SEARCH_STORAGE, else a journal file in .dvc/tmp), PUSH a git remote
# to `dvc exp push` each finished trial to, WORKERS local workers.
SPACE ?= search.yaml
search: setup
	$(BIN)/luckybag search $(SPACE) $(if $(STORAGE),--storage $(STORAGE)) $(if $(PUSH),--push $(PUSH)) \
	  $(if $(WORKERS),--workers $(WORKERS))

search-report: $(STAMP)
	$(BIN)/luckybag search $(SPACE) --report-only $(if $(STORAGE),--storage $(STORAGE))

# Share the grid: experiments' git refs to the git remote GIT_REMOTE, their outputs to the DVC remote. Never --force:
# an experiment of the same name that someone else pushed is not overwritten (the push fails and says so).
GIT_REMOTE ?= origin
grid-push: $(STAMP)
	$(BIN)/dvc exp push --all-commits $(GIT_REMOTE)

# Another clone: bring the shared experiments (then `make grid-report`, `dvc exp apply NAME && dvc pull`).
grid-pull: $(STAMP)
	$(BIN)/dvc exp pull --all-commits --force $(GIT_REMOTE)

grid-report: $(STAMP)
	$(BIN)/luckybag grid --grid grid.yaml --report reports/grid.md --report-only

# The CNN chosen on validation from a clean start (cnn-screen.yaml, then cnn-final.yaml: reports/cnn-*.md) and the
# dense recipe: the best trial on validation of search.yaml's real search (reports/search.md), as named experiments.
cnn: setup
	$(BIN)/dvc exp run --temp -n cnn -S train.model=cnn -S train.backend=tensorflow -S train.batch_size=128 \
	  -S train.lr_schedule=cosine -S train.monitor=val_accuracy -S train.patience=0 -S train.dropout=0.4 \
	  -S 'train.cnn.filters=[32,64]' -S train.cnn.convs_per_block=2 -S train.cnn.batch_norm=true -S train.epochs=15

dense-best: setup
	$(BIN)/dvc exp run --temp -n dense-best -S train.model=dense -S train.monitor=val_accuracy -S train.patience=0 \
	  -S train.dropout=0.23551977065144197 -S train.optimizer=rmsprop -S train.learning_rate=0.0018620138067800864 \
	  -S train.lr_schedule=cosine -S train.batch_size=128 -S train.epochs=20 \
	  -S 'train.hidden_layers=[{units: 256, activation: swish}, {units: 256, activation: swish}]'

experiments-report: $(STAMP)
	$(BIN)/luckybag experiments-report --names cnn dense-best --out reports/experiments.md

# A markdown comparison of the workspace with BASE (params, metrics, plots) for pull requests.
report: $(STAMP)
	$(BIN)/luckybag report --base $(BASE) --out reports/pr.md

# The dvc plots page (every plot of dvc.yaml; renders offline: plots_page/README.md), for the
# workspace or comparing it with REV (one or more git revisions or experiments).
PLOTS_DIR ?= reports/plots
plots: $(STAMP)
	$(BIN)/dvc plots show -o $(PLOTS_DIR)

plots-diff: $(STAMP)
	@[ -n "$(REV)" ] || { echo "error: plots-diff needs REV, the revision(s) to compare with, e.g. make plots-diff REV=main" >&2; exit 2; }
	$(BIN)/dvc plots diff $(REV) -o $(PLOTS_DIR)-diff

# Regenerate plots_page/template.html from the pinned npm packages (needs npm).
plots-template: $(STAMP)
	$(BIN)/python scripts/plots_page.py

# Tag the committed model as a version of the fashion-classifier artifact (GTO), then push the tag.
register: $(STAMP)
	@test -n "$(VERSION)" || { echo "error: VERSION is empty; expected e.g. make register VERSION=v1.0.0" >&2; exit 2; }
	$(BIN)/gto register fashion-classifier --version $(VERSION)
	git push $(GIT_REMOTE) fashion-classifier@$(VERSION)

check-params: $(STAMP)
	$(BIN)/luckybag check-params

clean-venv:
	rm -rf $(VENV)
