# GANRep Bench set-up, in two commands:
#   make run    create .venv, install the pinned torch/torchvision pair and the suite, get Fashion-MNIST,
#               run the default experiment (sqsp and squeeze on the embedded preset) and its leaderboard
#   make test   the same set-up, then the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# A tested pair. PyPI's torchvision is built against PyPI's (CUDA) torch, and those wheels also run on
# CPU; a CPU-only torch wheel makes torchvision's compiled ops fail to load.
TORCH_PAIR := torch==2.13.0 torchvision==0.28.0
# Local wheel folders set by pip config could hand us a CPU-only torch; ask the registry itself.
PIP_REGISTRY := env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null
FMNIST_DEBIAN := /usr/share/datasets/fashion-mnist
# A folder of wheels of the optional dense-transfer frameworks (detectron2, mmcv: no PyPI wheel fits torch
# 2.13): when set, setup installs the [detectron2,mmseg] extras from it, and their tests run instead of
# skipping. .ci/run sets it to ../shared/wheels.
GANREP_WHEELS ?=

.PHONY: run test setup data clean-artifacts

run: setup data
	$(PY) launch.py -m method=squeeze,sqsp

test: setup data
	$(PY) -m pytest -q

setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_REGISTRY) $(PY) -m pip install --quiet --upgrade pip
	$(PIP_REGISTRY) $(PY) -m pip install --quiet $(TORCH_PAIR)
	$(PIP_REGISTRY) $(PY) -m pip install --quiet -e ".[dev]"
	@if [ -n "$(GANREP_WHEELS)" ]; then \
		if [ -d "$(GANREP_WHEELS)" ]; then \
			echo "installing the detectron2 and mmseg extras from $(GANREP_WHEELS)"; \
			$(PIP_REGISTRY) $(PY) -m pip install --quiet --find-links "$(GANREP_WHEELS)" -e ".[dev,detectron2,mmseg]" \
			&& $(PY) -c "import detectron2, mmseg.models, mmcv.ops; print('detectron2 and mmseg OK')"; \
		else echo "GANREP_WHEELS=$(GANREP_WHEELS) is not a folder: the framework tests will skip"; fi; \
	fi
	$(PY) -c "import torch, torchvision.ops; torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5); print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'ops OK')"
	touch $@

# Fashion-MNIST: $$GANREP_DATA if set, else the Debian package (installed here when apt and root are
# available), else the suite falls back to torchvision's download at run time.
data:
	@if [ -n "$$GANREP_DATA" ]; then echo "Fashion-MNIST: using GANREP_DATA=$$GANREP_DATA"; \
	elif [ -d $(FMNIST_DEBIAN) ]; then echo "Fashion-MNIST: using $(FMNIST_DEBIAN)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get install -y -q dataset-fashion-mnist || (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)) >/dev/null \
		&& echo "Fashion-MNIST: installed the Debian package dataset-fashion-mnist"; \
	else echo "Fashion-MNIST: no local copy and no apt as root; the run will try torchvision's download"; fi

clean-artifacts:
	rm -rf artifacts runs
