//! The K3s stand-in binary, installed on test-bed nodes as `/usr/local/bin/k3s`; all of its
//! behaviour lives in `acceptance_tests::standin` (see `src/standin/cli.rs`).

fn main() {
    std::process::exit(acceptance_tests::standin::cli::main(
        std::env::args().collect(),
    ));
}
