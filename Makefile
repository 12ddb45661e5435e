# Two commands on a fresh machine:
#   make demo   — install the kit and run the main job on the embedded simulated stack
#   make test   — install what the tests need and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python

.PHONY: demo test lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/repro demo
	@echo "repro is in $(VENV)/bin: 'source $(VENV)/bin/activate' puts it on PATH (then: repro --help)"

test:
	bash scripts/test.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) out reports
