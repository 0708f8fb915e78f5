"""Recommendation on MovieLens-100k: quality against Spark's own baselines, and speed.

Same run, same split:

1. NCF (implicit) against ALS(implicitPrefs=True) (a small grid, the best on
   the test protocol, which favours ALS) and popularity: HR@10 and NDCG@10,
   leave-one-out (each user's latest rating held out, ranked among 99 items
   the user never rated), as He et al. (2017).
2. Wide & Deep against Spark LogisticRegression: AUC of "rating >= 4" on a
   random 20 % of the ratings, from the same user (age, gender, occupation)
   and item (genres, year) features, one-hot and crossed.
3. Speed: NCF training samples/s through zooapi (1 worker, DataFrame in,
   model out) against Keras `model.fit` on the same NumPy arrays, and
   `recommend_for_all_users` rows (scored pairs) per second.

Needs the data wheel: pip install --no-deps recbole (./dev installs it).

    python bench/recommendation.py [--pretrain-epochs 12] [--epochs 9] [--finetune-lr 1e-4] [--alpha 0.5]
        [--embed 16] [--lr 2e-3] [--neg 4] [--batch 256] [--seed 0] [--ensemble 2] [--embed-l2 0] [--wnd-epochs 4]

--pretrain-epochs 0 --ensemble 1 --epochs 10 is the earlier recipe (one NeuMF from scratch).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

logging.basicConfig(level=logging.WARNING)


def ncf_vs_als(spark, ratings, args):
    import keras
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    from zooapi.feature import add_negative_samples, leave_one_out_split, ranking_metrics
    from zooapi.models import NeuralCF

    interactions = ratings.select("user", "item", "timestamp")
    train, test = leave_one_out_split(interactions, time_col="timestamp")
    train, test = train.select("user", "item").cache(), test.select("user", "item").cache()
    negatives = (add_negative_samples(interactions.select("user", "item"), item_count=1682, seed=3,
                                      first_item=1, neg_per_user=99).where("label = 0"))
    candidates = test.withColumn("label", F.lit(1)).unionByName(negatives).cache()
    n_users = test.count()
    print(f"leave-one-out: {train.count()} training interactions, {n_users} users x 100 candidates")

    results = {}
    popularity = train.groupBy("item").agg(F.count("*").cast("double").alias("score"))
    results["popularity"] = ranking_metrics(candidates.join(popularity, "item", "left").fillna(0.0), 10,
                                            score_col="score")

    best = None
    implicit = train.withColumn("rating", F.lit(1.0))
    # ALS checkpoints its factors every 10 iterations only with a checkpoint
    # folder; without one, 15 iterations' lineage overflowed the driver's
    # stack while serializing a task (StackOverflowError, 2026-12-01).
    spark.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="bench-als-"))
    for rank, reg, alpha in [(16, 0.01, 1.0), (32, 0.1, 10.0), (64, 0.1, 10.0)]:
        als = ALS(rank=rank, regParam=reg, alpha=alpha, implicitPrefs=True, maxIter=15, seed=0,
                  userCol="user", itemCol="item", ratingCol="rating", coldStartStrategy="nan")
        scored = als.fit(implicit).transform(candidates).fillna(-1e9, ["prediction"])
        m = ranking_metrics(scored, 10, score_col="prediction")
        print(f"  ALS rank={rank} regParam={reg} alpha={alpha}: HR@10 {m['hit_ratio']:.4f} NDCG@10 {m['ndcg']:.4f}")
        if best is None or m["hit_ratio"] > best[1]["hit_ratio"]:
            best = ((rank, reg, alpha), m)
    results[f"ALS implicit (rank, reg, alpha = {best[0]})"] = best[1]

    # He et al.'s recipe: fresh negatives every epoch (one draw for all
    # epochs overfits those negatives after ~3 epochs here), so one
    # one-epoch fit per draw; `fit` keeps the weights and the optimizer's
    # state (Adam's moments, its step count) between calls. With
    # --pretrain-epochs, their pre-training: a GMF-only and an MLP-only
    # NeuralCF (Adam), joined by `NeuralCF.from_branches` and fine-tuned
    # (a fresh Adam at a tenth of the rate: He et al.'s plain SGD at 1e-3
    # left the joined model unchanged here); without, NeuMF from scratch.
    timing = {"seconds": 0.0, "rows": 0, "steps": 0, "first": None}

    def fit_epochs(model, epochs, seed0):
        for epoch in range(epochs):
            epoch_df = add_negative_samples(train, item_count=1682, neg_num=args.neg, seed=seed0 + epoch,
                                            first_item=1).cache()
            n = epoch_df.count()
            timing["rows"] += n
            timing["steps"] += -(-n // args.batch)
            start = time.perf_counter()
            model.fit(epoch_df, label_cols="label", epochs=1, batch_size=args.batch, num_workers=1,
                      seed=seed0 + epoch, verbose=0)
            timing["seconds"] += time.perf_counter() - start
            if timing["first"] is None:
                timing["first"] = epoch_df
            else:
                epoch_df.unpersist()

    def train_ncf(member):
        # Member m draws its negatives from seeds 1 + 1000 m...: its own
        # draws, beside its own initial weights.
        keras.utils.set_random_seed(args.seed + member)
        shape, seed0 = ncf_shape(args), 1 + 1000 * member
        if not args.pretrain_epochs:
            ncf = NeuralCF(943, 1682, **shape)
            ncf.compile(keras.optimizers.Adam(args.lr), "binary_crossentropy")
            fit_epochs(ncf, args.epochs, seed0)
            return ncf
        branches = []
        for kind in ("gmf", "mlp"):
            branch = NeuralCF(943, 1682, include_mf=kind == "gmf", include_mlp=kind == "mlp", **shape)
            branch.compile(keras.optimizers.Adam(args.lr), "binary_crossentropy")
            fit_epochs(branch, args.pretrain_epochs, seed0)
            m = ranking_metrics(branch.predict_user_item_pair(candidates), 10, score_col="probability")
            print(f"  {kind.upper()} alone, {args.pretrain_epochs} epochs (member {member}): "
                  f"HR@10 {m['hit_ratio']:.4f} NDCG@10 {m['ndcg']:.4f}")
            branches.append(branch)
        ncf = NeuralCF.from_branches(*branches, alpha=args.alpha, embed_l2=args.embed_l2)
        ncf.compile(keras.optimizers.Adam(args.finetune_lr), "binary_crossentropy")
        fit_epochs(ncf, args.epochs, seed0 + args.pretrain_epochs)
        return ncf

    recipe = (f"GMF and MLP pre-trained {args.pretrain_epochs} epochs each, alpha {args.alpha}, "
              f"{args.epochs} epochs Adam {args.finetune_lr:g}" if args.pretrain_epochs else f"{args.epochs} epochs")
    scored = None
    for member in range(args.ensemble):
        ncf = train_ncf(member)
        pairs = ncf.predict_user_item_pair(candidates).select("user", "item", "label",
                                                              F.col("probability").alias(f"p{member}"))
        if args.ensemble > 1:
            m = ranking_metrics(pairs, 10, score_col=f"p{member}")
            print(f"  NCF member {member}: HR@10 {m['hit_ratio']:.4f} NDCG@10 {m['ndcg']:.4f}")
        scored = pairs.cache() if scored is None else scored.join(pairs, ["user", "item", "label"]).cache()
    scored = scored.withColumn("probability", sum(F.col(f"p{m}") for m in range(args.ensemble)) / args.ensemble)
    rows, zoo_seconds, fit_df = timing["rows"], timing["seconds"], timing["first"]
    # The optimizer's step count proves that each fit continued the previous one's.
    print(f"NCF: {timing['steps']} steps in all ({rows} rows, batch {args.batch}); the last model's optimizer "
          f"at step {int(ncf.optimizer.iterations.numpy())}")
    name = recipe if args.ensemble == 1 else f"average of {args.ensemble}, each {recipe}"
    results[f"NeuralCF (zooapi, 1 worker, {name})"] = ranking_metrics(scored, 10, score_col="probability")
    return results, ncf, fit_df, rows, zoo_seconds, train


KERAS_EPOCHS = 3


def ncf_shape(args) -> dict:
    return dict(user_embed=args.embed, item_embed=args.embed, mf_embed=args.embed, embed_l2=args.embed_l2,
                hidden_layers=(2 * args.embed, args.embed, args.embed // 2))


def throughput(fit_df, rows, zoo_seconds, args):
    """Keras `model.fit` on the first epoch's rows as NumPy arrays (collected
    here for the baseline only), the same model and batch size, for
    `KERAS_EPOCHS` epochs in one call (a rate: fewer epochs than NCF's
    run keep the bench short). zooapi's time is its `args.epochs` one-epoch fits, each with
    its fixed cost (a Spark job, spilling the rows); the negatives are drawn
    and cached before each fit, outside the timing."""
    import keras
    import numpy as np

    from zooapi.models import NeuralCF

    pdf = fit_df.select("user", "item", "label").toPandas()
    x = [pdf["user"].to_numpy(np.int32).reshape(-1, 1), pdf["item"].to_numpy(np.int32).reshape(-1, 1)]
    y = pdf["label"].to_numpy(np.float32)
    keras.utils.set_random_seed(0)
    model = NeuralCF(943, 1682, **ncf_shape(args))
    model.compile(keras.optimizers.Adam(args.lr), "binary_crossentropy")
    start = time.perf_counter()
    model.fit(x, y, epochs=KERAS_EPOCHS, batch_size=args.batch, shuffle=True, verbose=0)
    keras_seconds = time.perf_counter() - start
    return rows / zoo_seconds, len(y) * KERAS_EPOCHS / keras_seconds


def recommend_speed(ncf, train):
    start = time.perf_counter()
    ncf.recommend_for_all_users(10, users=list(range(1, 944)), items=list(range(1, 1683)),
                                exclude=train).write.format("noop").mode("overwrite").save()
    return 943 * 1682 / (time.perf_counter() - start)


def wide_and_deep_vs_lr(spark, data, args):
    import keras
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import Bucketizer, OneHotEncoder, StringIndexer, VectorAssembler
    from pyspark.sql import functions as F

    from zooapi.feature import cross_hash_bucket
    from zooapi.models import ColumnFeatureInfo, WideAndDeep
    from zooapi.models.datasets import GENRES

    df = (data.ratings.join(data.users, "user").join(data.items, "item")
          .withColumn("label", (F.col("rating") >= 4).cast("int"))
          .withColumn("year", F.coalesce("year", F.lit(1995)).cast("double"))
          .withColumn("age", F.col("age").cast("double"))
          .withColumn("genre", F.col("genres")[0]))
    for i, g in enumerate(GENRES):
        df = df.withColumn(f"g{i}", F.array_contains("genres", g).cast("double"))
    df = Bucketizer(splits=[0, 18, 25, 35, 45, 50, 56, 200], inputCol="age", outputCol="age_b").transform(df)
    df = Bucketizer(splits=[0, 1960, 1970, 1980, 1990, 1995, 2000], inputCol="year", outputCol="year_b").transform(df)
    for c in ("gender", "occupation", "genre"):
        df = StringIndexer(inputCol=c, outputCol=f"{c}_i").fit(df).transform(df)
    crosses = {"gender_genre": (["gender", "genre"], 100), "age_genre": (["age_b", "genre"], 200),
               "occupation_genre": (["occupation", "genre"], 500)}
    for name, (cols, buckets) in crosses.items():
        df = df.withColumn(name, cross_hash_bucket(cols, buckets))
    ints = ["age_b", "year_b", "gender_i", "occupation_i", "genre_i"]
    df = df.select("user", "item", "label", *[F.col(c).cast("int") for c in ints], *crosses,
                   *[f"g{i}" for i in range(len(GENRES))])
    train, test = df.randomSplit([0.8, 0.2], seed=7)
    train, test = train.cache(), test.cache()

    base = ["age_b", "year_b", "gender_i", "occupation_i", "genre_i", "user", "item"]
    base_dims = [8, 7, 2, 21, 19, 944, 1683]
    genres = [f"g{i}" for i in range(len(GENRES))]
    info = ColumnFeatureInfo(wide_base_cols=base, wide_base_dims=base_dims,
                             wide_cross_cols=list(crosses), wide_cross_dims=[b for _, b in crosses.values()],
                             indicator_cols=["age_b", "year_b", "gender_i"], indicator_dims=[8, 7, 2],
                             embed_cols=["user", "item", "occupation_i", "genre_i"],
                             embed_in_dims=[944, 1683, 21, 19], embed_out_dims=[16, 16, 4, 4],
                             continuous_cols=genres)
    keras.utils.set_random_seed(0)
    wnd = WideAndDeep(1, info, hidden_layers=(64, 32, 16))
    wnd.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    wnd.fit(train, label_cols="label", epochs=args.wnd_epochs, batch_size=256, num_workers=1, seed=0)
    evaluator = BinaryClassificationEvaluator(rawPredictionCol="probability", labelCol="label")
    wnd_auc = evaluator.evaluate(wnd.predict_user_item_pair(test).withColumn("label", F.col("label").cast("double")))

    one_hot = OneHotEncoder(inputCols=base + list(crosses), outputCols=[f"{c}_oh" for c in base + list(crosses)],
                            handleInvalid="keep")
    assemble = VectorAssembler(inputCols=[f"{c}_oh" for c in base + list(crosses)] + genres, outputCol="features")
    best = 0.0
    for reg in (0.0, 0.001, 0.01):
        lr = LogisticRegression(regParam=reg, maxIter=50, labelCol="label")
        model = Pipeline(stages=[one_hot, assemble, lr]).fit(train)
        auc = BinaryClassificationEvaluator(labelCol="label").evaluate(model.transform(test))
        print(f"  LogisticRegression regParam={reg}: AUC {auc:.4f}")
        best = max(best, auc)
    return wnd_auc, best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=9,
                        help="NeuMF epochs (one draw of negatives each): fine-tuning, or from scratch")
    parser.add_argument("--pretrain-epochs", type=int, default=12,
                        help="GMF and MLP pre-training epochs each (0: NeuMF from scratch with Adam)")
    parser.add_argument("--lr", type=float, default=2e-3, help="NCF learning rate (Adam; the branches')")
    parser.add_argument("--finetune-lr", type=float, default=1e-4, help="NeuMF fine-tuning learning rate (Adam)")
    parser.add_argument("--alpha", type=float, default=0.5, help="GMF's share of the joined output layer")
    parser.add_argument("--neg", type=int, default=4, help="NCF negatives per interaction")
    parser.add_argument("--batch", type=int, default=256, help="NCF batch size")
    parser.add_argument("--seed", type=int, default=0, help="NCF's Keras seed (member m: seed + m)")
    parser.add_argument("--ensemble", type=int, default=2,
                        help="NCF models (each its own seed and negatives) whose probabilities are averaged")
    parser.add_argument("--embed", type=int, default=16, help="NCF embedding sizes (MLP layers 2x, 1x, x/2)")
    parser.add_argument("--embed-l2", type=float, default=0.0, help="NCF L2 penalty on the embeddings")
    parser.add_argument("--wnd-epochs", type=int, default=4)
    parser.add_argument("--shuffle-partitions", type=int, default=4)
    args = parser.parse_args()

    import zooapi
    from zooapi.models.datasets import movielens_100k

    spark = zooapi.init_nncontext("bench-recommendation", master=os.environ.get("MASTER", "local[2]"))
    # 100k rows need a few shuffle partitions, not Spark's default 200 (tiny
    # tasks whose overhead dominated every join and window here).
    spark.conf.set("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
    print("load:", open("/proc/loadavg").read().strip())
    data = movielens_100k(spark)
    start = time.perf_counter()
    results, ncf, fit_df, rows, zoo_seconds, train = ncf_vs_als(spark, data.ratings, args)
    print("\n| model | HR@10 | NDCG@10 |\n| --- | --- | --- |")
    for name, m in results.items():
        print(f"| {name} | {m['hit_ratio']:.4f} | {m['ndcg']:.4f} |")
    zoo_rate, keras_rate = throughput(fit_df, rows, zoo_seconds, args)
    rec_rate = recommend_speed(ncf, train)
    wnd_auc, lr_auc = wide_and_deep_vs_lr(spark, data, args)
    print(f"\n| model | AUC of rating >= 4 |\n| --- | --- |\n| WideAndDeep (zooapi) | {wnd_auc:.4f} |\n"
          f"| LogisticRegression (best regParam) | {lr_auc:.4f} |")
    print(f"\nNCF training, {rows} rows in one-epoch fits (negatives drawn again each epoch), "
          f"batch {args.batch}:")
    print(f"  zooapi, 1 worker (DataFrame in, model out): {zoo_rate:,.0f} samples/s")
    print(f"  keras model.fit on NumPy arrays:            {keras_rate:,.0f} samples/s")
    print(f"recommend_for_all_users(10), 943 x 1682 pairs: {rec_rate:,.0f} pairs/s")
    print("load:", open("/proc/loadavg").read().strip(), f"total {time.perf_counter() - start:.0f} s")
    ncf_m = [m for name, m in results.items() if name.startswith("NeuralCF")][0]
    als_m = [m for name, m in results.items() if name.startswith("ALS")][0]
    print(f"NCF/ALS HR@10 {ncf_m['hit_ratio'] / als_m['hit_ratio']:.2f}, NDCG@10 {ncf_m['ndcg'] / als_m['ndcg']:.2f}; "
          f"W&D-LR AUC {wnd_auc - lr_auc:+.4f}; zooapi/model.fit {zoo_rate / keras_rate:.2f}")
    spark.stop()


if __name__ == "__main__":
    main()
