# postline: `make demo` and `make test` are all the set-up a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Every Prefect server postline starts is set so (the values and why: surfaces/prefect_env.py, SERVER_SETTINGS)
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE ?= 100
export PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL ?= 1
export PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE ?= 200
export PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL ?= 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: demo test server install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	$(BIN)/python -c "from tasks.pixels import fastlut, kernels; print('grading pass kernel:', fastlut.kernel_name(), '- whole-image steps:', 'c' if kernels.native() else 'numpy')"
	touch $(STAMP)

install: $(STAMP)

## make demo: install, write a demo shoot of DNG files, run it end to end, print the delivery package
demo: $(STAMP)
	$(BIN)/postline demo

## make test: install (Python packages; PostgreSQL and Chromium when missing) and run the test suite
test: $(STAMP)
	bash tests/system-deps.sh
	$(BIN)/python -m pytest

## make server: the local Prefect server with its UI on http://127.0.0.1:4200
server: $(STAMP)
	$(BIN)/prefect server start --host 127.0.0.1 --port 4200

clean:
	rm -rf $(VENV) .pytest_cache
