# lbbt inspect: provenance and run lines of a results file; exit 2 for missing/foreign files.
source tests/cli/lib.bash
FIXTURE=$CLI_TMP/results.h5
TEST_RESULTS=${LBBT_BUILD:-build}/tests/test_results

# test_results writes a two-run results file through the library when asked.
if [ -x "$TEST_RESULTS" ] && LBBT_WRITE_RESULTS_FIXTURE=$FIXTURE "$TEST_RESULTS" >/dev/null 2>&1; then
  check lists_runs expect_exit 0 '0123456789abcdef  complete  init=language seed=0' "$LBBT" inspect "$FIXTURE"
  check second_run expect_exit 0 'fedcba9876543210  complete  init=language seed=1 .*bridge/train_acc1=1\.8 .*probe/test_acc1=0\.375' "$LBBT" inspect "$FIXTURE"
  check provenance expect_exit 0 'git_commit +([0-9a-f]{40}|unknown)' "$LBBT" inspect "$FIXTURE"
  check run_count expect_exit 0 '^runs: 2' "$LBBT" inspect "$FIXTURE"
  check yaml expect_exit 0 'seed: \[0, 1, 2\]' "$LBBT" inspect "$FIXTURE" --yaml
  check one_run expect_exit 0 'outliers/ratios = f32\[3x10\]' "$LBBT" inspect "$FIXTURE" --run fedcba9876543210
  check unknown_run expect_exit 2 "has no run 'nope'" "$LBBT" inspect "$FIXTURE" --run nope
  # Interoperability: h5py (Debian's python3-h5py) reads the same file and values.
  if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
    check h5py_reads expect_exit 0 '^0\.375 complete$' /usr/bin/python3 -c '
import sys, h5py
f = h5py.File(sys.argv[1], "r")
r = f["runs/fedcba9876543210"]
print(r["probe/test_acc1"][()], r.attrs["status"])' "$FIXTURE"
  else
    skip h5py_reads "h5py is not installed for /usr/bin/python3"
  fi
else
  skip lists_runs "$TEST_RESULTS is not built (make $TEST_RESULTS)"
fi

check missing_file expect_exit 2 'missing\.h5' "$LBBT" inspect "$CLI_TMP/missing.h5"
printf 'plain text\n' >"$CLI_TMP/text.h5"
check not_hdf5 expect_exit 2 'not an HDF5 file' "$LBBT" inspect "$CLI_TMP/text.h5"
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  /usr/bin/python3 -c 'import h5py, sys; h5py.File(sys.argv[1], "w").create_group("runs")' "$CLI_TMP/foreign.h5"
  check foreign_hdf5 expect_exit 2 'not an lbbt results file' "$LBBT" inspect "$CLI_TMP/foreign.h5"
else
  skip foreign_hdf5 "h5py is not installed for /usr/bin/python3"
fi
check no_args expect_exit 2 'usage: lbbt inspect' "$LBBT" inspect
check help expect_exit 0 'usage: lbbt inspect' "$LBBT" inspect --help
check directory expect_exit 2 "not a regular file" "$LBBT" inspect "$CLI_TMP"
