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

# Regenerate ui/src/generated/api.ts and docs/openapi.json from the Rust types.
bindings:
	UPDATE_BINDINGS=1 cargo test -p flightdeck-api --test api bindings

# Whole-process figures (see docs/benchmarks.md).
bench:
	@scripts/bench.sh

fmt:
	cargo fmt --all
