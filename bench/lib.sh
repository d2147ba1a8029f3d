# Shared by bench/run-*-bench.sh (sourced, not run). The caller sets NAME (for messages)
# and ROOT (the repository) before sourcing.

die() { printf '%s: error: %s\n' "$NAME" "$*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*" >&2; }

# Checks the tools, finds the FHIR package (sets and exports PKG_DIR and
# HOA_FHIR_PACKAGE_DIR).
bench_prerequisites() {
  local tool
  for tool in cmake node npm; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
  done
  PKG_DIR=${HOA_FHIR_PACKAGE_DIR:-$HOME/.fhir/packages/hl7.fhir.r4.examples#4.0.1/package}
  [[ -f "$PKG_DIR/package.json" ]] || die "FHIR package not found at $PKG_DIR (run ./dev setup)"
  export HOA_FHIR_PACKAGE_DIR="$PKG_DIR"
}

# Builds hoa_bench (Release) in build-bench/ and sets BUILD and BENCH_BIN.
# -Wno-error=restrict: g++ 12 at -O3 reports a false -Wrestrict inside std::string's
# operator+ (GCC bug 105329); it stays a warning here, everything else is still -Werror.
bench_build() {
  BUILD=${BUILD:-$ROOT/build-bench}
  log "building hoa_bench (Release) in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHOA_BUILD_BENCH=ON \
    -DHOA_BUILD_TESTS=OFF -DCMAKE_CXX_FLAGS="-Wno-error=restrict" >/dev/null
  cmake --build "$BUILD" --target hoa_bench -j "${JOBS:-$(nproc)}"
  BENCH_BIN="$BUILD/bench/hoa_bench"
  [[ -x "$BENCH_BIN" ]] || die "$BENCH_BIN was not built"
}

# bench_npm_install DIR MODULE: installs the npm comparison in DIR when MODULE is missing
# (npm ci from the committed package-lock.json).
bench_npm_install() {
  local dir=$1 module=$2
  [[ -d "$dir/node_modules/$module" ]] && return 0
  log "installing the npm comparison into $dir/node_modules"
  if [[ -f "$dir/package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund)
  else
    (cd "$dir" && npm install --no-audit --no-fund)
  fi
}
