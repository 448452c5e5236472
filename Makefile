# The course's commands. `make lab` runs the course, `make test` runs the tests; both set up
# the environment first when it is missing or older than pyproject.toml.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
CHAPTERS := $(notdir $(wildcard solutions/ch*))
WORK := work
# JupyterLab refuses to run as root unless told to (containers, CI).
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)

# nbgrader shells out to alembic, so every command runs with the venv's bin/ first on PATH.
export PATH := $(BIN):$(PATH)

.PHONY: setup lab assignments lint test test-gpu bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[grading,test]"
	touch $(STAMP)

# Students work on their own copies in work/: new chapters are added, existing files are never
# overwritten, so regenerating assignments/ or pulling course updates cannot lose their work.
lab: $(STAMP)
	$(BIN)/python -m course_utils.workspace assignments $(WORK)
	$(BIN)/jupyter lab $(LAB_FLAGS) --ServerApp.root_dir=$(CURDIR) --ServerApp.default_url=/lab/tree/$(WORK)

# Instructors: rebuild the student notebooks in assignments/ from solutions/.
assignments: $(STAMP)
	for chapter in $(CHAPTERS); do \
		$(BIN)/nbgrader generate_assignment $$chapter --force \
			--CourseDirectory.db_url=sqlite:///$(CURDIR)/$(VENV)/release.db || exit 1; \
	done

# The course's Python code, checked with the rules in pyproject.toml (a few seconds).
LINTED := course_utils instructor tests solutions/conftest.py
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)

# Lint first, then two pytest workers, one BLAS/OpenMP thread each (more threads only fight over
# the two cores). The run ends with what each chapter cost and the slowest tests.
test: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadgroup

# The solution notebooks under nbval on a CUDA kernel (needs a CUDA build of torch, see README);
# loadscope keeps each notebook's cells on one worker. WORKERS=7 runs every notebook at once.
WORKERS ?= 2
test-gpu: $(STAMP)
	$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'test-gpu: no CUDA device visible to torch')"
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadscope solutions

bench: $(STAMP)
	$(BIN)/python tests/bench.py

clean:
	rm -rf $(VENV) .pytest_cache

# Instructors: grade a class (instructor/README.md). COURSE is the nbgrader course folder;
# DB_URL a gradebook URL (default sqlite COURSE/gradebook.db); SCHEDULER a Dask scheduler address;
# WORKERS the grading processes of this machine without SCHEDULER (default: one per core).
COURSE ?= .
OUT ?= build
.PHONY: release collect autograde feedback grades

release: $(STAMP)
	$(if $(filter command line environment,$(origin CHAPTERS)),,$(error name the chapters to release: make release CHAPTERS="ch01_introduction ch02_image_classification"))
	$(BIN)/python -m instructor.release --chapters "$(CHAPTERS)" --out $(OUT) $(if $(OPEN),--open "$(OPEN)")

collect: $(STAMP)
	$(if $(SUBMISSIONS),,$(error say where the submissions are: make collect SUBMISSIONS=path/to/folder-or.zip))
	$(BIN)/python -m instructor.collect "$(SUBMISSIONS)" --course $(COURSE) $(addprefix --take ,$(TAKE))

autograde: $(STAMP)
	$(BIN)/python -m instructor.autograde --course $(COURSE) $(if $(DB_URL),--db-url "$(DB_URL)") $(if $(SCHEDULER),--scheduler "$(SCHEDULER)") $(if $(filter command line,$(origin WORKERS)),--workers $(WORKERS))

feedback: $(STAMP)
	$(BIN)/python -m instructor.feedback --course $(COURSE) $(if $(DB_URL),--db-url "$(DB_URL)")

grades: $(STAMP)
	$(BIN)/python -m instructor.grades --course $(COURSE) $(if $(DB_URL),--db-url "$(DB_URL)") --out $(COURSE)/grades.csv
