# silian — the two commands a newcomer needs: `make demo` and `make test`.
# Both are idempotent on a fresh machine: they create the virtualenv and install first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The test cluster lives inside the checkout (ignored by git) so parallel clones don't collide.
TEST_KAFKA_DIR ?= $(CURDIR)/.silian/test-kafka
PYTEST_ARGS ?=

.PHONY: install lint test test-unit demo demo-adapters bench bench-audit kafka-up kafka-down \
	postgres-up postgres-down clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# lint-imports checks the layers of pyproject.toml's [tool.importlinter]: a broken one fails.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Fetch Kafka (cached in ~/.cache/silian), start a 3-node KRaft cluster on free ports,
# run the whole suite against it, stop it whatever happened, exit with pytest's status.
test: install lint
	$(BIN)/silian dev kafka fetch
	@rm -rf "$(TEST_KAFKA_DIR)"
	$(BIN)/silian dev kafka up --nodes 3 --base-port 0 --dir "$(TEST_KAFKA_DIR)"
	@status=0; \
	SILIAN_KAFKA_BOOTSTRAP="$$($(BIN)/python -c 'import sys; from bus.devkafka import LocalKafka; print(LocalKafka(__import__("pathlib").Path(sys.argv[1])).bootstrap)' "$(TEST_KAFKA_DIR)")" \
	SILIAN_KAFKA_CLUSTER_DIR="$(TEST_KAFKA_DIR)" \
	$(BIN)/pytest $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/silian dev kafka down --dir "$(TEST_KAFKA_DIR)"; \
	exit $$status

test-unit: install
	$(BIN)/pytest -m "not kafka and not cluster and not postgres" $(PYTEST_ARGS)

demo: install
	$(BIN)/silian demo

# The three agencies' adapters at work against their reference local systems.
demo-adapters: install
	$(BIN)/silian agency demo

bench: install
	$(BIN)/python bench/bus_throughput.py

bench-audit: install
	$(BIN)/python bench/audit_bench.py

kafka-up: install
	$(BIN)/silian dev kafka up --nodes 3

kafka-down: install
	$(BIN)/silian dev kafka down

postgres-up:
	scripts/postgres.sh start

postgres-down:
	scripts/postgres.sh stop

clean:
	rm -rf $(VENV) .silian .pytest_cache .mypy_cache .ruff_cache *.egg-info
