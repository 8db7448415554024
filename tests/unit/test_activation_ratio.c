/* Eqs. 5-6: token-averaged activation per (image, neuron) against tau, by hand. */
#include <stdint.h>

#include "lbbt/activation_ratio.h"
#include "test.h"

static void test_counts_by_hand(void) {
  /* act [B=2, T=3, H=2]: image 0 tokens (1,-1) (1,-1) (-5,4) -> means (-1, 2/3);
   * image 1 tokens (0,0) (2,2) (-1,-3) -> means (1/3, -1/3). */
  const float act[12] = {1, -1, 1, -1, -5, 4, 0, 0, 2, 2, -1, -3};
  int64_t counts[2] = {0}, pairs = 0;
  REQUIRE(lbbt_activation_count(act, 2, 3, 2, 0, 0.0, counts, &pairs) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(pairs == 2 && counts[0] == 1 && counts[1] == 1, "tau 0: pairs %lld counts %lld %lld",
        (long long)pairs, (long long)counts[0], (long long)counts[1]);
  /* tau 0.5: only image 0 neuron 1 (2/3) */
  pairs = 0;
  counts[0] = counts[1] = 0;
  REQUIRE(lbbt_activation_count(act, 2, 3, 2, 0, 0.5, counts, &pairs) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(pairs == 1 && counts[0] == 0 && counts[1] == 1, "tau 0.5: pairs %lld", (long long)pairs);
  /* skipping token 0 (a class token): image 0 means (-2, 1.5), image 1 (0.5, -0.5) */
  pairs = 0;
  counts[0] = counts[1] = 0;
  REQUIRE(lbbt_activation_count(act, 2, 3, 2, 1, 0.0, counts, &pairs) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(pairs == 2 && counts[0] == 1 && counts[1] == 1, "t0 = 1: pairs %lld", (long long)pairs);
  /* the comparison is strict: a mean exactly tau is not activated */
  const float zero[4] = {0, 0, 0, 0};
  pairs = 0;
  REQUIRE(lbbt_activation_count(zero, 1, 2, 2, 0, 0.0, NULL, &pairs) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(pairs == 0, "mean == tau counted");
  CHECK(lbbt_activation_count(act, 2, 3, 2, 3, 0.0, NULL, &pairs) == LBBT_E_INPUT, "t0 == T accepted");
}

TEST_MAIN_BEGIN("test_activation_ratio")
  TEST_RUN(test_counts_by_hand);
TEST_MAIN_END()
