# Sourced by the benchmark scripts: builds the release binary that the README installs and
# sets $ee to it. On x86_64 Linux that is the static build of .cargo/static.toml.
if [ "$(uname -sm)" = "Linux x86_64" ]; then
    cargo build --release --quiet --bin earlyexit --config .cargo/static.toml
    ee=$PWD/target/x86_64-unknown-linux-gnu/release/earlyexit
else
    cargo build --release --quiet --bin earlyexit
    ee=$PWD/target/release/earlyexit
fi
