# The template's own commands. Baked projects run with this environment's
# Python (PYTHON=...), so no second environment is built.
PYTHON ?= .venv/bin/python
# The pinned environment is built only when PYTHON is the default one.
NEEDS_VENV := $(if $(filter .venv/bin/python,$(PYTHON)),venv)
VENV_STAMP := .venv/requirements-installed
BUILD ?= build
# The task of the demo project: classification or segmentation.
TASK ?= classification
DEMO_PROJECT := $(BUILD)/ml-pcam-$(TASK)
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv demo test lint clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

venv: $(VENV_STAMP) ## Create .venv with the pinned dependencies

$(VENV_STAMP): requirements.txt {{cookiecutter.repo_name}}/requirements.txt {{cookiecutter.repo_name}}/constraints.txt
	python3 -m venv .venv
	.venv/bin/pip install --disable-pip-version-check -r requirements.txt -c "{{cookiecutter.repo_name}}/constraints.txt"
	touch $@

demo: $(NEEDS_VENV) ## Bake a project (TASK=classification or segmentation) into build/ and run its demo
	rm -rf $(DEMO_PROJECT)
	$(PYTHON) -m cookiecutter --no-input --output-dir $(BUILD) . task=$(TASK)
	$(MAKE) -C $(DEMO_PROJECT) demo PYTHON=$(abspath $(PYTHON))

test: $(NEEDS_VENV) ## Run the template's tests (ARGS="-m 'not slow'" for the fast ones)
	$(PYTHON) -m pytest $(ARGS)

lint: $(NEEDS_VENV) ## Check the template's Python with ruff
	$(PYTHON) -m ruff check hooks tests
	$(PYTHON) -m ruff format --check hooks tests

clean: ## Remove build/
	rm -rf $(BUILD)
