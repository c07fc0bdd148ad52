# The two commands (see README): `make run` and `make test`. Everything else is a helper.
.PHONY: run test node bindings bench fmt

run:
	@scripts/run.sh

test:
	@scripts/test.sh

# A headless node with the web dashboard on 127.0.0.1:7878. Extra `flightdeck serve` flags go
# in ARGS, e.g. `make node ARGS="--secrets file"` on a server without a keychain.
node:
	@scripts/node.sh $(ARGS)

# Regenerate docs/openapi.json from the Rust handlers and types, then the UI's types from it.
bindings:
	UPDATE_BINDINGS=1 cargo test -p flightdeck-api --locked --test api bindings
	npm --prefix ui run gen:api

# Whole-process figures (see docs/benchmarks.md); GATEWAY=0 skips the gateway part, UI=0 the
# screen over 100,000 tasks (scripts/bench-ui.sh), CELERY=0 the queue baseline (bench-celery.sh).
bench:
	@scripts/bench.sh

fmt:
	cargo fmt --all
