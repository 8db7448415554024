#!/usr/bin/python3
"""scipy.optimize.linear_sum_assignment fixtures for lbbt_linear_assignment.

Writes tests/fixtures/assignment/scipy.txt: one block per case,

    case NAME N M
    <N lines of M costs, "inf" for a forbidden pair>
    total T            (scipy's minimum cost, %.17g)       or   infeasible
    row_to_col c0 ... c_{N-1}   (-1 for a row scipy leaves unassigned)

Costs are random (seeded numpy streams, so rerunning writes the same file): square and
rectangular both ways, small integer ranges (many ties: the assignment is then not unique,
so test_assignment compares totals and checks validity), wide float ranges, huge costs
(1e12 with unit differences), sparse +inf entries that leave a finite assignment, and
matrices whose +inf entries make the problem infeasible (scipy raises ValueError).

Run with /usr/bin/python3 (Debian python3-scipy, python3-numpy).
"""
import os

import numpy as np
from scipy.optimize import linear_sum_assignment

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "tests", "fixtures", "assignment", "scipy.txt")


def cases():
    rng = np.random.RandomState(20261203)
    out = []
    for k, (n, m) in enumerate([(1, 1), (2, 3), (3, 2), (5, 5), (7, 4), (4, 9), (12, 12),
                                (20, 31), (31, 20), (40, 40), (60, 45)]):
        out.append((f"uniform_{n}x{m}", rng.uniform(-3.0, 5.0, (n, m))))
        out.append((f"ties_{n}x{m}", rng.randint(0, 3, (n, m)).astype(np.float64)))
    for n, m in [(6, 6), (10, 14), (14, 10)]:
        out.append((f"huge_{n}x{m}", 1e12 + rng.randint(0, 50, (n, m)).astype(np.float64)))
        out.append((f"wide_range_{n}x{m}", np.exp(rng.uniform(-20, 20, (n, m)))))
        c = rng.uniform(0, 1, (n, m))
        mask = rng.uniform(0, 1, (n, m)) < 0.5
        # keep one finite permutation so that the problem stays feasible
        k = min(n, m)
        rows, cols = rng.permutation(n)[:k], rng.permutation(m)[:k]
        mask[rows, cols] = False
        c[mask] = np.inf
        out.append((f"sparse_inf_{n}x{m}", c))
    # infeasible: two rows whose only finite entries share one column
    c = np.full((3, 4), np.inf)
    c[0, 1] = c[1, 1] = 1.0
    c[2, :] = 2.0
    out.append(("infeasible_shared_column", c))
    c = rng.uniform(0, 1, (5, 3))
    c[:, 2] = np.inf
    c[:, 1] = np.inf
    out.append(("infeasible_tall", c))
    return out


def fmt(x):
    return "inf" if np.isinf(x) else "%.17g" % x


def main():
    lines = []
    for name, c in cases():
        n, m = c.shape
        lines.append(f"case {name} {n} {m}")
        lines.extend(" ".join(fmt(x) for x in row) for row in c)
        try:
            r, col = linear_sum_assignment(c)
        except ValueError:
            lines.append("infeasible")
            continue
        r2c = [-1] * n
        for i, j in zip(r, col):
            r2c[i] = int(j)
        lines.append("total %.17g" % float(c[r, col].sum()))
        lines.append("row_to_col " + " ".join(str(j) for j in r2c))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
