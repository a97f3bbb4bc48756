# The README's commands. Every target provisions libtorch first (idempotent: seconds when done).
#   make setup [CUDA=1|CUDA=0]   libtorch 2.11.0 into the per-user cache + .cargo/config.toml
#   make demo                    the demo tour with the trained models that ship (models/)
#   make demo-train              the demo tour that trains small models from scratch first
#   make reproduce               every shipped model's card measured again, side by side
#   make gallery [ARGS=...]      the showcases in the browser on http://127.0.0.1:8000/
#   make test [GYM_RS=0|1]       fmt, clippy -D warnings, rustdoc, every test (what CI runs)
#   make bench                   every app's `bench`, then a table of the results
#   make bench-vs-pytorch PYTHON=... ours beside PyTorch (fp32, bf16), medians of 3, one table
#   make doctor                  what libtorch and devices the binaries see

CARGO ?= cargo
PYTHON ?= python3
# Apps in demo-tour order (add each new app here), and those with a `bench` subcommand
# (basics is experiments about how deep learning works, with nothing to compare with PyTorch).
APPS := basics cnn-classifier char-rnn seq2seq style-transfer dqn
BENCH_APPS := cnn-classifier char-rnn seq2seq style-transfer dqn
# Apps whose demo shows a trained model (`demo --train` trains one first instead).
MODEL_APPS := cnn-classifier char-rnn seq2seq dqn

# dqn's optional gym-rs backend builds SDL2 from source and links the system SDL2_gfx; `make test`
# checks and tests it too where SDL2_gfx is installed (CI installs it). GYM_RS=0 skips it.
GYM_RS ?= $(shell pkg-config --exists SDL2_gfx 2>/dev/null && echo 1 || echo 0)
FEATURES := $(if $(filter 1,$(GYM_RS)),--features integration-tests/gym-rs,)

VARIANT := $(if $(filter 1,$(CUDA)),--variant cuda,$(if $(filter 0,$(CUDA)),--variant cpu,))

.PHONY: setup demo demo-train reproduce gallery test bench bench-vs-pytorch doctor

setup:
	@$(PYTHON) tools/setup_libtorch.py $(VARIANT)

doctor: setup
	$(CARGO) run --release --quiet -p harness --bin dl -- doctor

demo: doctor
	$(CARGO) build --release --quiet --workspace --bins
	@start=$$(date +%s); \
	target/release/datasets list; \
	for app in $(APPS); do \
		echo "== $$app"; \
		target/release/$$app demo || exit 1; \
	done; \
	echo "demo tour done ($(words $(APPS)) apps) in $$(( $$(date +%s) - start )) s; outputs in runs/demo/"

demo-train: doctor
	$(CARGO) build --release --quiet --workspace --bins
	target/release/datasets list
	@for app in $(APPS); do \
		echo "== $$app"; \
		case " $(MODEL_APPS) " in *" $$app "*) flag=--train;; *) flag=;; esac; \
		target/release/$$app demo $$flag || exit 1; \
	done
	@echo "demo tour done ($(words $(APPS)) apps)"

reproduce: setup
	$(CARGO) build --release --quiet --workspace --bins
	target/release/dl reproduce

gallery: setup
	$(CARGO) run --release --quiet -p gallery -- $(ARGS)

test: setup
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets $(FEATURES) --quiet -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps $(FEATURES) --quiet
	$(CARGO) build --workspace --bins $(FEATURES) --quiet
	$(CARGO) test --workspace $(FEATURES)

bench: setup
	@CARGO=$(CARGO) tools/bench_table.sh $(BENCH_APPS)

# Ours beside PyTorch (PYTHON=... with torch 2.11.0), fp32 and bf16, medians of 3, one table.
bench-vs-pytorch: setup
	$(CARGO) build --release --bins --quiet
	PYTHON=$(PYTHON) tools/bench/side_by_side.sh
