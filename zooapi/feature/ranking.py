"""Ranking metrics for recommenders, with the NCF paper's protocol.

Each user has a candidate list: the held-out item (label 1) among sampled
negatives (label 0; He et al. use 99), each with a score. The held-out
item's rank is the number of candidates scored above it (ties count
against it). `hit_ratio_at_k` is the fraction of users whose held-out item
ranks in the top k; `ndcg_at_k` averages `1 / log2(rank + 2)` over those
users (0 for the others). With one relevant item per user these equal
Spark's `RankingEvaluator` `recallAtK` and `ndcgAtK` on the ranked
candidate lists. Both are one aggregation on the executors.

Example:
    >>> from zooapi.feature import hit_ratio_at_k, ndcg_at_k  # doctest: +SKIP
    >>> scored = ncf.predict_user_item_pair(candidates)  # doctest: +SKIP
    >>> hit_ratio_at_k(scored, 10, score_col="probability"), ndcg_at_k(scored, 10, score_col="probability")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zooapi.checks import check_int

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["hit_ratio_at_k", "ndcg_at_k", "ranking_metrics"]


def _ranks(df: "DataFrame", user_col: str, label_col: str, score_col: str) -> "DataFrame":
    """One row per user with a positive: the positive's rank (0 = best)."""
    from pyspark.sql import functions as F

    missing = [c for c in (user_col, label_col, score_col) if c not in df.columns]
    if missing:
        raise ValueError(f"Column '{missing[0]}' is missing from the DataFrame. Received columns: {df.columns}")
    positives = df.where(F.col(label_col) > 0).select(user_col, F.col(score_col).alias("_pos_score"))
    return (df.where(F.col(label_col) <= 0).select(user_col, F.col(score_col).alias("_score"))
            .join(positives, user_col, "right")
            .groupBy(user_col).agg(F.count(F.when(F.col("_score") >= F.col("_pos_score"), 1)).alias("_rank")))


def ranking_metrics(df: "DataFrame", k: int, user_col: str = "user", label_col: str = "label",
                    score_col: str = "prediction") -> dict[str, float]:
    """HR@k and NDCG@k in one Spark job.

    Args:
        df: candidate rows: one positive (label > 0) and its negatives per user.
        k: the cut-off (a positive integer).
        user_col: the user column.
        label_col: 1 for the held-out item, 0 for a negative.
        score_col: the model's score (higher is better).

    Returns:
        `{"hit_ratio": ..., "ndcg": ...}`, averages over the users with a
        positive (NaN when there are none).

    Example:
        >>> ranking_metrics(scored, 10, score_col="probability")  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    k = check_int("k", k)
    hit = F.col("_rank") < k
    row = _ranks(df, user_col, label_col, score_col).agg(
        F.avg(hit.cast("double")).alias("hit_ratio"),
        F.avg(F.when(hit, 1.0 / F.log2(F.col("_rank") + 2)).otherwise(0.0)).alias("ndcg")).first()
    return {name: float("nan") if row[name] is None else float(row[name]) for name in ("hit_ratio", "ndcg")}


def hit_ratio_at_k(df: "DataFrame", k: int, user_col: str = "user", label_col: str = "label",
                   score_col: str = "prediction") -> float:
    """The fraction of users whose held-out item ranks in the top `k`.

    Args:
        df: candidate rows, as in `ranking_metrics`.
        k: the cut-off.
        user_col: the user column.
        label_col: 1 for the held-out item, 0 for a negative.
        score_col: the model's score.

    Returns:
        HR@k, a float in [0, 1].

    Example:
        >>> hit_ratio_at_k(scored, 10, score_col="probability")  # doctest: +SKIP
    """
    return ranking_metrics(df, k, user_col, label_col, score_col)["hit_ratio"]


def ndcg_at_k(df: "DataFrame", k: int, user_col: str = "user", label_col: str = "label",
              score_col: str = "prediction") -> float:
    """NDCG@k with one relevant item per user: `1 / log2(rank + 2)` when it
    ranks in the top `k`, else 0, averaged over users.

    Args:
        df: candidate rows, as in `ranking_metrics`.
        k: the cut-off.
        user_col: the user column.
        label_col: 1 for the held-out item, 0 for a negative.
        score_col: the model's score.

    Returns:
        NDCG@k, a float in [0, 1].

    Example:
        >>> ndcg_at_k(scored, 10, score_col="probability")  # doctest: +SKIP
    """
    return ranking_metrics(df, k, user_col, label_col, score_col)["ndcg"]
