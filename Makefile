# Common tasks; the README's two commands are `scripts/demo` and `scripts/test`.
.PHONY: demo test fmt lint docs bench-boot bench-startup bench-ssh bench-argocd bench-plan fuzz

demo:
	scripts/demo

test:
	scripts/test

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

# Re-render docs/resources and docs/data-sources from the schemas and examples/.
docs:
	UPDATE_DOCS=1 cargo test -p terraform-provider-k3s --lib docs

bench-boot:
	cargo bench -p acceptance-tests --bench boot

bench-startup:
	cargo build --release -p terraform-provider-k3s
	cargo bench -p acceptance-tests --bench plugin_startup

bench-ssh:
	cargo bench -p acceptance-tests --bench ssh_exec

bench-argocd:
	cargo bench -p acceptance-tests --bench argocd_install

bench-plan:
	cargo bench -p acceptance-tests --bench node_plan

# Mutation-fuzz the cty decoders for FUZZ_SECONDS (default 60).
fuzz:
	cargo run --release -p tfplugin-runtime --example cty_fuzz -- $${FUZZ_SECONDS:-60}
