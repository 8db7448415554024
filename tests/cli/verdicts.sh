#!/usr/bin/env bash
# lbbt verdicts end to end, on results made in a temp folder (--results-dir):
#  1. the paper's claims (paper-tables/claims.yaml) on smoke-tier results of Tables 4 and 12
#     only: one section per claim, a verdict word in each, "not run yet" for the tables not run;
#  2. a tiny two-seed fixture (tests/cli/fixtures/verdicts/) where two verdicts are known in
#     advance and both kinds of control are read;
#  3. malformed claims files are refused with file:line:col.
source tests/cli/lib.bash
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { skip all "Fashion-MNIST absent"; exit 0; }
[ -r "${LBBT_MODELS:-../shared/models}/stories260K.bin" ] || { skip all "stories260K.bin absent"; exit 0; }
export OMP_NUM_THREADS=1
VERDICT_WORDS='supports|contradicts|within noise|too few seeds|not run yet'

# every "## " section has exactly one "**Verdict: <word>" line; the count of sections is $2
sections_have_verdicts() { # FILE N_CLAIMS
  local md=$1 want=$2
  [ -s "$md" ] || { echo "no $md"; return 1; }
  awk -v want="$want" -v words="$VERDICT_WORDS" '
    /^## / { if (n && v != 1) { print "section " n " has " v " verdict lines"; bad = 1 } n++; v = 0; next }
    /^\*\*Verdict: / { if ($0 ~ "^\\*\\*Verdict: (" words ")\\*\\*") v++; else { print "bad verdict line: " $0; bad = 1 } }
    END { if (n && v != 1) { print "section " n " has " v " verdict lines"; bad = 1 }
          if (n != want) { print n " sections, want " want; bad = 1 }
          exit bad }' "$md"
}
# the section of claim number $2 has verdict word $3
claim_verdict_is() { # FILE N WORD
  awk -v n="$2" '/^## / { s++ } s == n && /^\*\*Verdict: / { print; exit }' "$1" | grep -q "^\*\*Verdict: $3\*\*" \
    || { echo "claim $2: $(awk -v n="$2" '/^## / { s++ } s == n && /^\*\*Verdict: /' "$1")"; return 1; }
}

# ---- 1. the paper's claims on smoke results of two tables
R="$CLI_TMP/results"
mkdir -p "$R"
ok=1
lm_log=$(ensure_smoke_lm) || { ok=0; echo "FAIL verdicts.smoke_lm_model: $lm_log"; }
for n in 4 12; do
  "$LBBT" run experiments/table-$n.yaml --tier smoke --threads 1 --out "$R/table-$n-smoke.h5" >"$CLI_TMP/run-$n.log" 2>&1 \
    || { ok=0; echo "FAIL verdicts.smoke_runs: table $n: $(tail -n 3 "$CLI_TMP/run-$n.log" | tr '\n' ' ')"; }
done
if [ $ok = 1 ]; then
  check table_reads_results_dir "$LBBT" table 4 --tier smoke --results-dir "$R"
  check table_writes_to_results_dir test -s "$R/table-4-smoke.csv"
  if "$LBBT" verdicts --tier smoke --results-dir "$R" >"$CLI_TMP/verdicts.out" 2>&1; then
    md="$R/verdicts-smoke.md"
    n_claims=$(grep -c '^  - id: ' paper-tables/claims.yaml)
    check one_section_and_verdict_per_claim sections_have_verdicts "$md" "$n_claims"
    check printed_what_it_wrote cmp -s "$md" "$CLI_TMP/verdicts.out"
    # claims 4 (Table 4) and 6 (Table 12) have one smoke run per row; the others no results
    check smoke_single_seed_is_too_few claim_verdict_is "$md" 4 "too few seeds"
    check smoke_table_12_too_few claim_verdict_is "$md" 6 "too few seeds"
    check missing_table_not_run claim_verdict_is "$md" 1 "not run yet"
    check missing_table_14_not_run claim_verdict_is "$md" 8 "not run yet"
    check no_controls_column grep -q '^| 7 | .* | 14 | not run yet | none |$' "$md"
    check controls_not_run_column grep -q '^| 8 | .* | 14 | not run yet | not run yet |$' "$md"
    # claim 1 reads the LLaMA rows below the paper tier (its `tiers:` override)
    check tier_override_rows grep -q '^Claim `pretrained_test_true_labels`: \*Pretrained-LLAMA3.2-1B\* higher than \*Scratch-LLAMA3.2-1B\*' "$md"
    check reproduce_command grep -q 'Reproduce: `build/lbbt run experiments/table-4.yaml --tier smoke' "$md"
  else
    echo "FAIL verdicts.smoke_render: $(tail -n 3 "$CLI_TMP/verdicts.out" | tr '\n' ' ')"
  fi
fi

# ---- 2. a two-seed fixture with known verdicts
F=tests/cli/fixtures/verdicts
FR="$CLI_TMP/fixture"
mkdir -p "$FR"
if "$LBBT" run $F/experiment.yaml --threads 1 --out "$FR/verdicts-test.h5" >"$CLI_TMP/run-fixture.log" 2>&1; then
  V=("$LBBT" verdicts --results-dir "$FR" --claims $F/claims.yaml --paper-tables $F/paper-tables)
  if "${V[@]}" >/dev/null 2>"$CLI_TMP/fixture.err"; then
    md="$FR/verdicts.md"
    check fixture_sections sections_have_verdicts "$md" 4
    # a row against the same runs: difference exactly 0, so "greater" is within noise and
    # "not-worse" is supported
    check same_runs_greater_is_within_noise claim_verdict_is "$md" 1 "within noise"
    check same_runs_not_worse_supports claim_verdict_is "$md" 2 "supports"
    check zero_difference grep -Eq '^\| fashion-mnist \| .* \| \+0\.0 \[-?[0-9.]+, \+[0-9.]+\] \| [0-9.]+ \| within noise \|$' "$md"
    check arm_control_read grep -q '^- \*shuffled\* (`shuffled`) in place of the claimed row: .* (n=2)\. Claimed − control: .* → ' "$md"
    check pair_control_read grep -q '^- \*shuffled, first 1\* (`shuffled_first1`) vs \*shuffled\* (`shuffled`), .* → ' "$md"
    check paper_values_shown grep -q 'In the paper: Fashion-MNIST 93.9 vs 34.2' "$md"
    # the summary's controls column: the readings of the same-runs controls are known
    check controls_column grep -q '^| # | claim | table | verdict | controls reproduce it? |$' "$md"
    check controls_no_effect grep -q '^| 1 | Same runs, greater | 90 | within noise | no effect to attribute |$' "$md"
    check controls_counted grep -q '^| 2 | Same runs, not worse | 90 | supports | 1 of 2 reproduce it, 1 unread |$' "$md"
    check controls_line_per_claim grep -q '^\*\*Controls: 1 of 2 reproduce it, 1 unread\*\* ' "$md"
    check controls_other_claims grep -Eq '^\| 4 \| First layer matches all layers \| 90 \| [a-z ]+ \| ([01] of 1 reproduce it.*|no effect to attribute|not enough runs|inconclusive.*) \|$' "$md"
  else
    echo "FAIL verdicts.fixture_render: $(tail -n 3 "$CLI_TMP/fixture.err" | tr '\n' ' ')"
  fi
else
  echo "FAIL verdicts.fixture_runs: $(tail -n 3 "$CLI_TMP/run-fixture.log" | tr '\n' ' ')"
fi

# ---- 3. malformed claims
bad="$CLI_TMP/bad-claims.yaml"
printf 'claims:\n  - {id: a, claim: x, table: 90, metric: train_acc1, better: language, baseline: scratch,\n     relation: greater, contrls: [shuffled]}\n' >"$bad"
check unknown_key_suggests expect_exit 2 "bad-claims.yaml:3:25: unknown key 'contrls'.*did you mean 'controls'" \
  "$LBBT" verdicts --results-dir "$FR" --claims "$bad" --paper-tables $F/paper-tables
printf 'claims:\n  - {id: a, claim: x, table: 90, metric: train_acc1, better: languag, baseline: scratch, relation: greater}\n' >"$bad"
check unknown_row expect_exit 2 "bad-claims.yaml:2:5: claim 'a': table 90 has no row 'languag'" \
  "$LBBT" verdicts --results-dir "$FR" --claims "$bad" --paper-tables $F/paper-tables
printf 'claims:\n  - {id: a, claim: x, table: 90, metric: train_acc1, better: language, baseline: scratch, relation: better}\n' >"$bad"
check bad_relation expect_exit 2 "relation must be 'greater' or 'not-worse'" \
  "$LBBT" verdicts --results-dir "$FR" --claims "$bad" --paper-tables $F/paper-tables
printf 'claims:\n  - {id: a, claim: x, table: 90, metric: test_acc1, better: language, baseline: scratch, relation: greater}\n' >"$bad"
check unknown_metric expect_exit 2 "no column group or metric 'test_acc1'" \
  "$LBBT" verdicts --results-dir "$FR" --claims "$bad" --paper-tables $F/paper-tables
printf 'claims:\n  - {id: a, claim: x, table: 90, metric: train_acc1, better: language, baseline: scratch, relation: greater,\n     tiers: {smoke: {bettr: language}}}\n' >"$bad"
check tier_override_unknown_key expect_exit 2 "bad-claims.yaml:3:22: unknown key 'bettr'.*did you mean 'better'" \
  "$LBBT" verdicts --results-dir "$FR" --claims "$bad" --paper-tables $F/paper-tables
printf 'claims:\n  - {id: a, claim: x, table: 90, metric: train_acc1, better: language, baseline: scratch, relation: greater,\n     only_tiers: cpu}\n' >"$bad"
check only_tiers_not_a_list expect_exit 2 "bad-claims.yaml:3:18: only_tiers must be a non-empty list" \
  "$LBBT" verdicts --results-dir "$FR" --claims "$bad" --paper-tables $F/paper-tables
printf 'claims:\n  - {id: a, claim: x, table: 90, metric: train_acc1, better: languag, baseline: scratch, relation: greater,\n     only_tiers: [paper]}\n' >"$bad"
check only_tiers_rows_checked_everywhere expect_exit 2 "claim 'a': table 90 has no row 'languag'" \
  "$LBBT" verdicts --results-dir "$FR" --claims "$bad" --paper-tables $F/paper-tables
# only_tiers: the fixture's four claims and one more, reported at the cpu tier only when it
# names it (the numbering stays consecutive)
only_tiers_report() { # TIERS WANT_SECTIONS
  local claims="$CLI_TMP/only-claims.yaml" out="$CLI_TMP/only"
  { cat $F/claims.yaml
    printf '  - {id: extra, claim: "Extra claim", table: 90, metric: train_acc1, better: language, baseline: scratch,\n'
    printf '     relation: greater, only_tiers: %s}\n' "$1"; } >"$claims"
  mkdir -p "$out" && cp "$FR"/*.h5 "$out"/ || return 1
  "$LBBT" verdicts --results-dir "$out" --claims "$claims" --paper-tables $F/paper-tables >/dev/null || return 1
  sections_have_verdicts "$out/verdicts.md" "$2" || return 1
  if [ "$2" = 5 ]; then grep -q '^## 5\. Extra claim' "$out/verdicts.md"; else ! grep -q 'Extra claim' "$out/verdicts.md"; fi
}
check only_tiers_left_out only_tiers_report "[paper, smoke]" 4
check only_tiers_included only_tiers_report "[smoke, cpu]" 5
# than: the growth of an advantage (Table 5: language - scratch at one size against another).
# The same runs on both sides: growth exactly 0, so "greater" is within noise, "not-worse" supports.
growth_report() { # RELATION WANT_WORD
  local claims="$CLI_TMP/growth-claims.yaml" out="$CLI_TMP/growth"
  printf 'claims:\n  - {id: g, claim: "Advantage grows", table: 90, metric: train_acc1, better: language,\n' >"$claims"
  printf '     baseline: scratch, relation: %s, than: {better: language, baseline: scratch}}\n' "$1" >>"$claims"
  mkdir -p "$out" && cp "$FR"/*.h5 "$out"/ || return 1
  "$LBBT" verdicts --results-dir "$out" --claims "$claims" --paper-tables $F/paper-tables >/dev/null || return 1
  sections_have_verdicts "$out/verdicts.md" 1 || return 1
  claim_verdict_is "$out/verdicts.md" 1 "$2" || return 1
  grep -Eq '^\| fashion-mnist \| [-+][0-9.]+ \| [-+][0-9.]+ \| \+0\.0 \[-[0-9.]+, \+[0-9.]+\] \| [0-9.]+ \| '"$2"' \|$' "$out/verdicts.md" &&
    grep -q "^| 1 | Advantage grows | 90 | $2 | none |$" "$out/verdicts.md"
}
check growth_same_advantage_within_noise growth_report greater "within noise"
check growth_same_advantage_not_worse growth_report not-worse supports
# a claims file with one claim (TEXT: its mapping's keys after `{id: a, claim: x, table: 90,
# metric: train_acc1, `) is refused with exit 2 and PATTERN
claim_refused() { # TEXT PATTERN
  printf 'claims:\n  - {id: a, claim: x, table: 90, metric: train_acc1,\n     %s}\n' "$1" >"$bad"
  expect_exit 2 "$2" "$LBBT" verdicts --results-dir "$FR" --claims "$bad" --paper-tables $F/paper-tables
}
check growth_takes_no_controls claim_refused \
  "better: language, baseline: scratch, relation: greater, than: {better: language, baseline: scratch}, controls: [shuffled]" \
  "bad-claims.yaml:2:5: claim 'a': a claim with 'than'.*takes no controls"
check growth_than_is_a_pair claim_refused "better: language, baseline: scratch, relation: greater, than: language" \
  "bad-claims.yaml:3:68: than must be .better: ROW, baseline: ROW."
check growth_unknown_row claim_refused \
  "better: language, baseline: scratch, relation: greater, than: {better: languag, baseline: scratch}" \
  "bad-claims.yaml:3:68: claim 'a': table 90 has no row 'languag'"
check missing_claims_file expect_exit 2 "cannot open the claims file" \
  "$LBBT" verdicts --claims "$CLI_TMP/none.yaml"
check unknown_option expect_exit 2 "unexpected argument" "$LBBT" verdicts --frobnicate
# the tables named by claims.yaml's `table:` lines, each once, in order of first use
want_tables=$(awk '$1 == "table:" && !seen[$2]++ { printf "%s%s", sep, $2; sep = " " }' paper-tables/claims.yaml)
check list_tables expect_exit 0 "^$want_tables\$" "$LBBT" verdicts --list-tables
