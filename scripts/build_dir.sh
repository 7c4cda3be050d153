# Sourced by the build scripts: sets root (the repository) and build_dir (ORTHO_BUILD_DIR,
# default build/, relative paths taken from the repository root).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${ORTHO_BUILD_DIR:-build}
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
